"""The device side's one error class, in a module of its own so every device module can raise it."""


class EdgeError(Exception):
    """Bad input to the runtime: the CLIs print the message and exit 2.

    The device folder ships to devices without the `tfmodel` package, so it has its own error class,
    used exactly like `tfmodel.errors.UserError`: the message names the input, the problem, the fix.
    """

    exit_code = 2
