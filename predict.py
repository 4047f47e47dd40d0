"""Predict with an exported model: python predict.py --help (installed: ernie-distill-predict)."""
import sys

from ernie_distill.cli import run_cli


def main(argv=None):  # imported here, inside run_cli: a dependency this Python lacks is one error line
    from ernie_distill.commands.predict import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
