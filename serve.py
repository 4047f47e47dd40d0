"""Serve an exported model over HTTP: python serve.py --help (installed: ernie-distill-serve)."""
import sys

from ernie_distill.cli import run_cli


def main(argv=None):  # imported here, inside run_cli: a dependency this Python lacks is one error line
    from ernie_distill.commands.serve import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
