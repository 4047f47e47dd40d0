"""Download the task's data with PaddleNLP (needs internet; bounded in time) and print the folder that holds it.

    DATA_DIR=$(python scripts/download_data.py --task_name ChnSentiCorp)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ernie_distill.data import download_data_dir  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task_name", default="ChnSentiCorp")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a stalled download fails")
    args = parser.parse_args()
    print(download_data_dir(args.task_name, args.timeout))
