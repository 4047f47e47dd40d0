"""Predict with an exported model: python predict.py --help (installed: ernie-distill-predict)."""
import sys

from ernie_distill.commands.predict import main, run

if __name__ == "__main__":
    sys.exit(run())
