"""Runs: the run folder, settings files, and the jobs that turn inputs into outputs.

`reconstruct` (pipeline/reconstruct.py) is the one run of every reconstruction method: settings ->
data -> run folder + config.yaml -> method.fit through engine.Loop -> evaluation, renders, plots,
mesh files, report.json, report.html. See docs/architecture.md.
"""

from inverse3d.pipeline.reconstruct import RunContext, RunSettings, reconstruct, resolve_settings

__all__ = ["RunContext", "RunSettings", "reconstruct", "resolve_settings"]
