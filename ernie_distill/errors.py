"""Errors that mean bad input (a file, a row, a flag), not a bug: scripts print them in one line, without a traceback."""
import sys


class InputError(ValueError):
    """Bad input; the message names the file, line or flag and what to do."""


def run_cli(main):
    """Run a script's main(); an InputError becomes 'error: ...' on stderr and exit status 2."""
    try:
        status = main()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0
