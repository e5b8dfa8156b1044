"""The one error class users see: a message naming the input, the problem and the fix."""


class UserError(Exception):
    """Bad input from the user. The CLI prints the message and exits with status 2."""

    exit_code = 2
