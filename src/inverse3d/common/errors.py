"""The library's own error types.

`InputError` is the base of every error that means "the user's input is wrong" (a malformed file,
a bad setting, a missing file named by the user): the command line reports it in one line and
exits with code 2. Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations

__all__ = ["ArgTypeError", "InputError", "NonFiniteError"]


class InputError(ValueError):
    """Bad user input: a file that cannot be read as what it claims to be, or a bad setting.

    A ValueError, so code that catches ValueError (as PyTorch3D's callers do) keeps working.
    """


class NonFiniteError(ValueError):
    """A computation met NaN or infinite values where finite ones are required (e.g. densities
    reaching a raymarcher). Not an input error: during training it usually means the optimisation
    blew up, and `engine.run_loop` reports it as a `NonFiniteLossError` naming the step.
    """


class ArgTypeError(TypeError, InputError):
    """An argument of the wrong kind (a str where a tensor is expected, ...): a TypeError, and a
    ValueError too because PyTorch3D raises ValueError in these places."""
