"""Write a random-init ERNIE-Gram (character vocabulary from the training texts) for offline runs, tests, benchmarks.

    python scripts/make_tiny_teacher.py --data_dir data/chnsenticorp --output_dir tmp/tiny-ernie-gram
    python run_glue.py --model_type ernie-gram --model_name_or_path tmp/tiny-ernie-gram ...
    python scripts/make_tiny_teacher.py --size base ...   # ernie-gram-zh's shape (99.9M parameters), for speed

The directory is marked as random-init: run_glue.py, distillation and the report say loudly that it is untrained.
"""
import os
import sys

from ernie_distill.cli import ArgumentParser, bounded, run_cli
from ernie_distill.data.reading import load_splits, load_task
from ernie_distill.errors import InputError
from ernie_distill.models.random_teacher import RANDOM_TEACHER_SIZES, make_random_teacher
from ernie_distill.models.teacher import is_random_init


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--data_dir", required=True, help="folder with train.tsv (the vocabulary's source)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--task_name",
                        help="as run_glue.py's (default: ChnSentiCorp, or your --data_dir's folder name)")
    parser.add_argument("--size", choices=list(RANDOM_TEACHER_SIZES), default="tiny")
    parser.add_argument("--max_seq_length", type=bounded(int, 3, 510), default=128)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    output = args.output_dir
    if os.path.exists(output) and not (os.path.isdir(output) and (not os.listdir(output) or is_random_init(output))):
        raise InputError(f"--output_dir {output} is a file or a directory that is not a random-init teacher of this "
                         "script: give a new or empty directory (it only replaces its own output)")
    task = load_task(args.task_name, args.data_dir)
    texts = [e.text for e in load_splits(task, args.data_dir, ("train",))["train"]]
    make_random_teacher(texts, args.output_dir, **RANDOM_TEACHER_SIZES[args.size], max_seq_length=args.max_seq_length,
                        seed=args.seed, task=task)


if __name__ == "__main__":
    sys.exit(run_cli(main))
