"""Runs: load the inputs, call a method through the engine, evaluate, plot and write every file."""
