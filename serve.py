"""Serve an exported model over HTTP: python serve.py --help (installed: ernie-distill-serve)."""
import sys

from ernie_distill.commands.serve import main, run

if __name__ == "__main__":
    sys.exit(run())
