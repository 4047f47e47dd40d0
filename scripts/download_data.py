"""Download the task's data with PaddleNLP (needs internet; bounded in time) into a folder of this checkout, and print
that folder (train.tsv and dev.tsv; data/ is not committed).

    python scripts/download_data.py                       # ChnSentiCorp -> data/chnsenticorp
"""
import sys

from ernie_distill.cli import ArgumentParser, positive_float, run_cli
from ernie_distill.data.reading import download_data_dir


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--task_name", default="ChnSentiCorp")
    parser.add_argument("--output_dir", default=None, help="default data/TASK (lower case)")
    parser.add_argument("--timeout", type=positive_float, default=300, help="seconds before a stalled download fails")
    args = parser.parse_args()
    output_dir = args.output_dir or f"data/{args.task_name.lower()}"
    print(download_data_dir(args.task_name, output_dir, args.timeout))


if __name__ == "__main__":
    sys.exit(run_cli(main))
