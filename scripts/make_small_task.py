"""Make a small task of your own from a larger labelled one: N training texts a class from a few classes, and a dev
split (for choosing the epoch) and a held-out test split (scored only) from its dev.tsv; seeded. For measuring what
accuracy the defaults give at a given size of data (docs/results.md, "What accuracy to expect").

    python scripts/make_small_task.py --source DIR --output_dir tmp/small-300 --classes 3 --per_class 100
    python scripts/benchmark_student.py --data_dir tmp/small-300 --ood_file tmp/small-300/test.tsv \\
        --output_dir tmp/benchmark-student/small-300
    python scripts/benchmark_peers.py --data_dir tmp/small-300 --task_name small-300 \\
        --ood_file tmp/small-300/test.tsv --output_dir tmp/benchmark-peers/small-300

DIR holds train.tsv, dev.tsv and labels.txt (e.g. shopping_topics); OUTPUT_DIR gets the same files with
`label\\ttext_a` rows, and test.tsv. The classes are a seeded choice among those with enough texts.
"""
import os
import sys

import numpy as np

from ernie_distill.cli import ArgumentParser, bounded, positive_int, run_cli
from ernie_distill.data.reading import LABELS_FILE, load_task, read_tsv
from ernie_distill.errors import InputError


def main(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--source", required=True, help="folder with train.tsv, dev.tsv and labels.txt")
    parser.add_argument("--output_dir", required=True, help="a new folder")
    parser.add_argument("--classes", type=bounded(int, 2), default=3)
    parser.add_argument("--per_class", type=positive_int, default=100, help="training texts a class")
    parser.add_argument("--dev_per_class", type=positive_int, default=50)
    parser.add_argument("--test_per_class", type=positive_int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.exists(args.output_dir):
        parser.error(f"--output_dir {args.output_dir} exists: give a new folder")
    task = load_task(os.path.basename(os.path.normpath(args.source)), args.source)
    train = read_tsv(os.path.join(args.source, "train.tsv"), task)[0]
    dev = read_tsv(os.path.join(args.source, "dev.tsv"), task)[0]
    rng = np.random.default_rng(args.seed)
    held_out = args.dev_per_class + args.test_per_class
    enough = [i for i in range(len(task.labels)) if sum(e.label == i for e in train) >= args.per_class
              and sum(e.label == i for e in dev) >= held_out]
    if len(enough) < args.classes:
        raise InputError(f"{args.source}: {len(enough)} classes have {args.per_class} training and {held_out} dev "
                         f"texts; ask for fewer (--classes, --per_class, --dev_per_class, --test_per_class)")
    chosen = sorted(rng.choice(enough, args.classes, replace=False).tolist())
    splits = {"train": [], "dev": [], "test": []}
    for new_id, old_id in enumerate(chosen):
        rows = [e.text for e in train if e.label == old_id]
        splits["train"] += [(new_id, rows[i]) for i in rng.choice(len(rows), args.per_class, replace=False)]
        rows = [e.text for e in dev if e.label == old_id]
        picked = rng.choice(len(rows), held_out, replace=False)
        splits["dev"] += [(new_id, rows[i]) for i in picked[:args.dev_per_class]]
        splits["test"] += [(new_id, rows[i]) for i in picked[args.dev_per_class:]]
    os.makedirs(args.output_dir)
    labels = [task.labels[i] for i in chosen]
    with open(os.path.join(args.output_dir, LABELS_FILE), "w", encoding="utf-8") as f:
        f.writelines(f"{label}\n" for label in labels)
    for split, rows in splits.items():
        order = rng.permutation(len(rows))
        with open(os.path.join(args.output_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("label\ttext_a\n")
            f.writelines(f"{labels[rows[i][0]]}\t{rows[i][1]}\n" for i in order)
    print(f"{args.output_dir}: classes {', '.join(labels)}; "
          + ", ".join(f"{split} {len(rows)}" for split, rows in splits.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
