"""Benchmark: train the student on hard labels with several seeds on the real data; dev and out-of-domain accuracy.

    python scripts/benchmark_student.py                                  # the defaults, seeds 1 2 3
    python scripts/benchmark_student.py --name words -- --tokens words --ngram_max 0 --max_seq_length 128 --hidden_size 128

Each seed trains `distill_lstm.py` (extra arguments after `--`) into OUTPUT_DIR/seed-N; its best model is then scored
on --ood_file (out of domain: evaluation only, never used for training or choosing the epoch). Prints a Markdown row
with mean and spread over the seeds and writes OUTPUT_DIR/summary.json. A seed whose run already finished with the
same command and the same code is not trained again.
"""
import os
import platform
import subprocess
import sys
import time

import numpy as np

from ernie_distill.atomic import read_json, write_json
from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import load_task, read_tsv
from ernie_distill.models.student import load_student, student_scores
from ernie_distill.training.loop import code_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def train(seed_dir, command):
    """Run distill_lstm.py unless seed_dir holds a finished run of the same command and code; (metrics, seconds)."""
    stamp = os.path.join(seed_dir, "benchmark_command.json")
    metrics_path = os.path.join(seed_dir, "metrics.json")
    made_by = {"command": command[1:], "code": code_digest()}
    if os.path.isfile(metrics_path) and os.path.isfile(stamp):
        done = read_json(stamp)
        if {k: done.get(k) for k in made_by} == made_by:
            print(f"{seed_dir}: already trained with this command and code", file=sys.stderr)
            return read_json(metrics_path), done["seconds"]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = round(time.time() - started, 1)
    write_json(stamp, {**made_by, "seconds": seconds})
    return read_json(metrics_path), seconds


def ood_accuracy(model_dir, path, data_dir):
    model, inputs, info = load_student(model_dir)
    examples, _ = read_tsv(path, load_task(info["task_name"], data_dir))
    encoded = [inputs.encode(e.text) for e in examples]
    return student_scores(model, inputs, encoded, [e.label for e in examples], info["label_names"])["accuracy"]


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "chnsenticorp"))
    parser.add_argument("--ood_file", default=os.path.join(SHARED, "online_shopping_dev", "dev.tsv"),
                        help="out-of-domain labelled TSV, scored only ('' to skip)")
    parser.add_argument("--seeds", type=positive_int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--name", default="default", help="the variant's name in the table")
    parser.add_argument("--output_dir", help="default: tmp/benchmark-student/NAME")
    parser.add_argument("extra", nargs="*", help="more distill_lstm.py arguments (after --)")
    args = parser.parse_args()
    output_dir = args.output_dir or os.path.join(ROOT, "tmp", "benchmark-student", args.name)

    runs = []
    for seed in args.seeds:
        seed_dir = os.path.join(output_dir, f"seed-{seed}")
        command = [sys.executable, os.path.join(ROOT, "distill_lstm.py"), "--data_dir", args.data_dir, "--output_dir",
                   seed_dir, "--device", "cpu", "--seed", str(seed), *args.extra]
        metrics, seconds = train(seed_dir, command)
        ood = (ood_accuracy(os.path.join(seed_dir, "best_model"), args.ood_file, args.data_dir) if args.ood_file
               else None)
        runs.append({"seed": seed, "dev": metrics["dev_accuracy"], "dev_macro_f1": metrics["dev_macro_f1"],
                     "dev_per_class_f1": {k: v["f1"] for k, v in metrics["dev_per_class"].items()},
                     "ood": ood, "best_epoch": metrics["best_epoch"],
                     "seconds": seconds, "num_parameters": metrics["num_parameters"],
                     "best_model": os.path.join(seed_dir, "best_model")})
        print(f"seed {seed}: dev {metrics['dev_accuracy']:.4f}, out of domain {ood}, {seconds / 60:.1f} min",
              file=sys.stderr, flush=True)

    def spread(key):
        values = np.array([r[key] for r in runs if r[key] is not None]) * 100
        if not len(values):
            return "n/a"
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values[0]:.2f} (1 seed)"

    row = (f"| {args.name} | {' '.join(args.extra) or '(defaults)'} | {runs[0]['num_parameters'] / 1e6:.2f}M "
           f"| {spread('dev')} | {spread('dev_macro_f1')} | {spread('ood')} "
           f"| {','.join(str(r['best_epoch']) for r in runs)} "
           f"| {np.mean([r['seconds'] for r in runs]) / 60:.1f} min | {len(runs)} |")
    header = ("| variant | flags | parameters | dev % (mean ± sd) | dev macro-F1 x100 | out of domain % | best epochs "
              "| train time | seeds |\n|---|---|---|---|---|---|---|---|---|")
    print(f"{header}\n{row}")
    write_json(os.path.join(output_dir, "summary.json"), {
        "name": args.name, "extra": args.extra, "runs": runs, "row": row,
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}"})


if __name__ == "__main__":
    sys.exit(run_cli(main))
