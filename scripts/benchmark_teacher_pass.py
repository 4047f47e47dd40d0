"""How long does a teacher take to label the transfer set? Texts/s of the teacher pass on each backend, projected to
the whole set.

    python scripts/make_tiny_teacher.py --size base --data_dir ../shared/data/chnsenticorp --output_dir tmp/base-teacher
    python scripts/benchmark_teacher_pass.py --teacher_dir tmp/base-teacher

Builds the default transfer set of --data_dir (distill_lstm.py's defaults, cached), takes a seeded random sample of
--sample texts (the set's own mix of long originals and short augmented copies), and runs the teacher pass on it as
distill_lstm.py does (exported once into the cache, texts sorted by length, batches of --teacher_batch_size) on each
of --backends, in this process, one after the other, each after a warm-up batch. Prints texts/s and the projected
minutes for the whole set.
"""
import os
import sys
import time

import numpy as np

from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import load_splits, load_task
from ernie_distill.deploy.inference import Predictor
from ernie_distill.training.teachers import logits_with_progress, open_teacher
from ernie_distill.training.transfer_set import TransferSettings, build_transfer_set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--teacher_dir", required=True)
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "..", "shared", "data", "chnsenticorp"))
    parser.add_argument("--sample", type=positive_int, default=2000)
    parser.add_argument("--backends", nargs="+", default=["paddle", "paddle-bf16", "onnx-int8"])
    parser.add_argument("--teacher_batch_size", type=positive_int, default=64)
    parser.add_argument("--cpu_threads", type=positive_int, default=2)
    parser.add_argument("--cache_dir", default=os.path.join(ROOT, "tmp", "cache"))
    args = parser.parse_args()
    task = load_task("chnsenticorp", args.data_dir)
    train = load_splits(task, args.data_dir, ("train",))["train"]
    transfer = build_transfer_set(TransferSettings(cache_dir=args.cache_dir), [e.text for e in train],
                                  [e.label for e in train])
    teacher = open_teacher(args.teacher_dir, task)
    rows = np.random.default_rng(0).choice(len(transfer.words), min(args.sample, len(transfer.words)), replace=False)
    print(f"| backend | texts/s | projected for all {len(transfer.words):,} texts |\n|---|---|---|")
    for backend in args.backends:
        model_dir = args.teacher_dir if teacher.kind == "export" else teacher.export(args.cache_dir,
                                                                                       backend == "onnx-int8")
        predictor = Predictor(model_dir, backend, cpu_threads=args.cpu_threads, batch_size=args.teacher_batch_size,
                              max_seq_length=teacher.max_seq_length)
        all_texts = transfer.teacher_texts(predictor.encoder.mask_token)
        texts = [all_texts[i] for i in rows]
        predictor.logits(texts[:args.teacher_batch_size])  # warm-up: oneDNN builds its kernels on the first calls
        started = time.perf_counter()
        logits_with_progress(predictor, texts)
        rate = len(texts) / (time.perf_counter() - started)
        print(f"| {backend} | {rate:.1f} | {len(transfer.words) / rate / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    sys.exit(run_cli(main))
