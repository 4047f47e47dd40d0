"""Write a tiny random-init ERNIE-Gram (character vocabulary from the training texts) for offline runs and tests.

    python scripts/make_tiny_teacher.py --data_dir ../shared/data/chnsenticorp --output_dir tmp/tiny-ernie-gram
    python run_glue.py --model_type ernie-gram --model_name_or_path tmp/tiny-ernie-gram ...

The directory is marked as random-init: run_glue.py and the report say loudly that such a teacher is untrained.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ernie_distill.data import load_splits  # noqa: E402
from ernie_distill.log import logger  # noqa: E402
from ernie_distill.teacher import make_tiny_model_dir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="folder with train.tsv (the vocabulary's source)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--task_name", default="ChnSentiCorp")
    parser.add_argument("--hidden_size", type=int, default=64)
    parser.add_argument("--num_layers", type=int, default=2)
    parser.add_argument("--num_heads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    texts = [e.text for e in load_splits(args.task_name, args.data_dir, ("train",))["train"]]
    make_tiny_model_dir(texts, args.output_dir, args.hidden_size, args.num_layers, args.num_heads, seed=args.seed)
    logger.info("wrote a RANDOM-INIT (untrained) ERNIE-Gram to %s", args.output_dir)


if __name__ == "__main__":
    main()
