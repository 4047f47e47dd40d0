"""Errors that mean bad input (a file, a row, a flag), not a bug: scripts print them in one line, without a traceback."""


class InputError(ValueError):
    """Bad input; the message names the file, line or flag and what to do."""
