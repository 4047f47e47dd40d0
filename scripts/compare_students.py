"""Compare two student variants trained by benchmark_student.py, seed by seed, on dev and out of domain.

    python scripts/compare_students.py tmp/benchmark-student/h32 tmp/benchmark-student/h64

Reads each variant's OUTPUT_DIR/seed-N/best_model (it trains nothing), scores both on the same texts and prints, per
split, each variant's accuracy per seed, mean and spread, and the exact McNemar test over the seed-matched pairs pooled
(variant A's seed N against variant B's seed N): how often one is right where the other is wrong, and whether that
could be chance. One seed moves dev accuracy by 0.3-0.5 point: a difference needs the test, not the means alone. The
seeds score the same texts, so the pooled pairs are not independent: read the p-value as optimistic.
"""
import os
import sys

import numpy as np

from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import load_task, read_tsv
from ernie_distill.errors import InputError
from ernie_distill.training.scores import mcnemar_exact
from ernie_distill.models.student import load_student, student_logits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def model_dirs(variant_dir, seeds):
    """Each seed's best_model directory; all of them must exist before anything is scored."""
    if not os.path.isdir(variant_dir):
        raise InputError(f"{variant_dir} does not exist: give an --output_dir of scripts/benchmark_student.py")
    dirs = [os.path.join(variant_dir, f"seed-{seed}", "best_model") for seed in seeds]
    missing = [d for d in dirs if not os.path.isdir(d)]
    if missing:
        raise InputError(f"{', '.join(missing)} missing: train the variant with scripts/benchmark_student.py --seeds "
                         f"{' '.join(map(str, seeds))} first")
    return dirs


def correct_per_seed(dirs, examples_by_split, task):
    """{split: [boolean array per seed]}: which texts each seed's best model gets right."""
    correct = {split: [] for split in examples_by_split}
    for model_dir in dirs:
        model, inputs, info = load_student(model_dir)
        if info["labels"] != list(task.labels):
            raise InputError(f"{model_dir} was trained on the labels {info['labels']}, not {task.name}'s "
                             f"{list(task.labels)}: pass its --data_dir and --task_name")
        for split, examples in examples_by_split.items():
            predicted = student_logits(model, inputs, [inputs.encode(e.text) for e in examples]).argmax(axis=1)
            correct[split].append(predicted == np.array([e.label for e in examples]))
    return correct


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("variant_a", help="a benchmark_student.py output directory (with seed-N/best_model)")
    parser.add_argument("variant_b")
    parser.add_argument("--seeds", type=positive_int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "chnsenticorp"))
    parser.add_argument("--task_name", default="chnsenticorp")
    parser.add_argument("--ood_file", default=os.path.join(SHARED, "online_shopping_dev", "dev.tsv"),
                        help="out-of-domain labelled TSV ('' to skip)")
    args = parser.parse_args()
    task = load_task(args.task_name, args.data_dir)
    splits = {"dev": read_tsv(os.path.join(args.data_dir, "dev.tsv"), task)[0]}
    if args.ood_file:
        splits["out of domain"] = read_tsv(args.ood_file, task)[0]
    dirs = [model_dirs(d, args.seeds) for d in (args.variant_a, args.variant_b)]
    a, b = (correct_per_seed(d, splits, task) for d in dirs)
    name_a, name_b = (os.path.basename(os.path.normpath(d)) for d in (args.variant_a, args.variant_b))
    if name_a == name_b:
        name_a, name_b = args.variant_a, args.variant_b
    for split in splits:
        accuracies = [(name, np.array([c.mean() * 100 for c in correct[split]])) for name, correct in
                      ((name_a, a), (name_b, b))]
        test = mcnemar_exact(np.concatenate(a[split]), np.concatenate(b[split]))
        summary = "; ".join(f"{name} {acc.mean():.2f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.2f} (seeds "
                            f"{', '.join(f'{x:.2f}' for x in acc)})" for name, acc in accuracies)
        print(f"{split}: {summary}; over {len(args.seeds)} seed pairs {name_a} alone right on {test['only_a']} texts, "
              f"{name_b} alone on {test['only_b']}: exact McNemar p = {test['p_value']:.3f}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
