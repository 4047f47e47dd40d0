"""Download the task's data with PaddleNLP (needs internet; bounded in time) and print the folder that holds it.

    DATA_DIR=$(python scripts/download_data.py --task_name ChnSentiCorp)
"""
import sys

from ernie_distill.cli import ArgumentParser, positive_float, run_cli
from ernie_distill.data.reading import download_data_dir


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--task_name", default="ChnSentiCorp")
    parser.add_argument("--timeout", type=positive_float, default=300, help="seconds before a stalled download fails")
    args = parser.parse_args()
    print(download_data_dir(args.task_name, args.timeout))


if __name__ == "__main__":
    sys.exit(run_cli(main))
