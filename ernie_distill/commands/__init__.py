"""The installed commands, ernie-distill-predict and ernie-distill-serve; predict.py and serve.py in a checkout run the
same code. Each module's `run()` is its console entry point: main() with the CLI's error and Ctrl-C handling.

Imported before the commands' heavy modules (Paddle, numba: seconds), this package makes Ctrl-C one line and SIGTERM
quiet from the start (cli.quiet_signals), not a traceback of an import.
"""
from ..cli import quiet_signals

quiet_signals()
