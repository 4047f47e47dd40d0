"""Benchmark exported models side by side on one machine: latency, throughput, memory, size, accuracy.

    python scripts/benchmark.py --model teacher=tmp/export/teacher --model student=tmp/export/student \
        --input_file ../shared/data/chnsenticorp/dev.tsv --output_dir tmp/benchmark

Each (model, backend) pair runs in a fresh process (so peak memory is its own), on CPU with --cpu_threads threads:
  - batch 1: latency p50/p90/p99 of one text end to end (tokenization included), over --latency_texts texts;
  - batch 32: latency p50/p90/p99 of consecutive 32-text requests, and sentences/s over all texts as predict.py
    runs them (end to end: the best of 3 passes, or one pass where a pass takes over 2 s; in the model alone, and in
    encoding alone);
  - peak resident memory of the process, parameters, size on disk of what the backend loads, accuracy (with labels).
Backends: Paddle Inference (oneDNN on for the transformer, off for the LSTM, where it does not help), ONNX Runtime
when the export has inference.onnx, and a student's compiled kernel (numba). --serve_clients also measures the first
student behind serve.py, with concurrent HTTP clients on loopback. Writes benchmark.md, benchmark.json and
benchmark.png to --output_dir.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from ernie_distill.atomic import write_json
from ernie_distill.cli import ArgumentParser, non_negative_int, positive_int, run_cli
from ernie_distill.data.reading import read_bytes, read_text_lines
from ernie_distill.errors import InputError
from ernie_distill.deploy.inference import Predictor
from ernie_distill.log import logger
from ernie_distill.deploy.manifest import BACKEND_FILES, BACKENDS, Manifest
from load_generator import post_concurrently
from server_launcher import running_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_spec(text):
    """NAME=DIR, the flag type of --model."""
    name, sep, model_dir = text.partition("=")
    if not sep or not name or not model_dir:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name, model_dir


def backend_list(text):
    backends = text.split(",")
    if not set(backends) <= set(BACKENDS):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(BACKENDS)}, got {text!r}")
    return backends


def count_list(text):
    try:
        counts = [int(n) for n in text.split(",")]
    except ValueError:
        counts = [-1]
    if min(counts) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated counts such as 1,16,64, got {text!r}")
    return [n for n in counts if n]


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model", type=model_spec, action="append", required=True, metavar="NAME=DIR",
                        help="an exported model to measure; repeatable, e.g. teacher=tmp/export/teacher")
    parser.add_argument("--input_file", default=os.path.join(ROOT, "..", "shared", "data", "chnsenticorp", "dev.tsv"),
                        help="labelled TSV (accuracy too) or one text per line")
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "tmp", "benchmark"))
    parser.add_argument("--max_texts", type=non_negative_int, default=0, help="use only the first N texts (0: all)")
    parser.add_argument("--latency_texts", type=non_negative_int, default=0, help="texts timed one by one (0: all)")
    parser.add_argument("--backends", type=backend_list, default="paddle,onnx,onnx-int8,numba",
                        help=f"any of {', '.join(BACKENDS)}; a backend whose files an export lacks is skipped; "
                             "paddle-bf16 only runs for teachers")
    parser.add_argument("--cpu_threads", type=positive_int, default=2)
    parser.add_argument("--serve_clients", type=count_list, default="1,16,64",
                        help="numbers of concurrent HTTP clients to measure serve.py with (0: skip serving)")
    parser.add_argument("--serve_workers", type=count_list, default="1,2",
                        help="serve.py --workers settings (at most 64) to measure each client count with (0: skip)")
    parser.add_argument("--serve_requests", type=positive_int, default=3000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one (model, backend) in this process
    args = parser.parse_args(argv)
    if max(args.serve_workers, default=0) > 64:
        parser.error(f"--serve_workers: serve.py takes at most 64 workers, got {max(args.serve_workers)}")
    return args


def read_texts(path, max_texts, labels):
    """(texts, gold label indices or None) from a labelled TSV or a plain text file; blank lines are left out."""
    examples, _ = read_text_lines(read_bytes(path, f"--input_file {path}"), path, labels)
    examples = [e for e in examples if e.text.strip()][: max_texts or None]
    labels = [e.label for e in examples]
    return [e.text for e in examples], (labels if labels and min(labels) >= 0 else None)


def percentiles_ms(seconds):
    return {f"p{q}": round(float(np.percentile(seconds, q)) * 1000, 2) for q in (50, 90, 99)}


def timed(fn, *args):
    began = time.perf_counter()
    fn(*args)
    return time.perf_counter() - began


def measure(model_dir, backend, texts, labels, latency_texts, cpu_threads):
    """All figures for one (model, backend), measured in this process."""
    predictor = Predictor(model_dir, backend, "cpu", cpu_threads, batch_size=32)
    predictor.predict(texts[:64])  # warm-up: first runs allocate and pick kernels
    single = texts[: latency_texts or len(texts)]
    batch1 = [timed(predictor.logits, [t]) for t in single]
    batch32 = [timed(predictor.logits, texts[i : i + 32]) for i in range(0, len(single), 32)]
    passes = []  # the best of 3 passes over all texts (a stall on a shared machine only ever slows one down); a model
    while len(passes) < 3 and sum(passes) < 2:  # whose pass takes seconds gets one, long enough to average stalls out
        began = time.perf_counter()
        results = predictor.predict(texts)
        passes.append(time.perf_counter() - began)
    encode_seconds = model_seconds = 0.0
    for start in range(0, len(texts), 32 * 16):  # the windows predict() encodes, timed apart from the model
        began = time.perf_counter()
        encoded = predictor.encoder.encode(texts[start : start + 32 * 16])
        encode_seconds += time.perf_counter() - began
        model_seconds += timed(predictor.encoded_logits, encoded)
    manifest = predictor.manifest
    size = sum(os.path.getsize(os.path.join(model_dir, name)) for name in manifest.backend_files(backend))
    accuracy = None
    if labels is not None:
        accuracy = float(np.mean([r["label"] == manifest.label_names[g] for r, g in zip(results, labels)]))
    return {
        "kind": manifest.kind, "model_type": manifest.model_type, "backend": backend,
        "pretrained": manifest.pretrained, "mode": manifest.mode,
        "num_parameters": manifest.num_parameters, "size_mb": round(size / 2**20, 1),
        "accuracy": accuracy, "texts": len(texts), "latency_texts": len(single),
        "batch1_ms": percentiles_ms(batch1), "batch32_ms": percentiles_ms(batch32),
        "batch32_sentences_per_s": round(len(texts) / min(passes), 1), "batch32_passes": len(passes),
        "batch32_model_only_sentences_per_s": round(len(texts) / model_seconds, 1),
        "encode_only_sentences_per_s": round(len(texts) / encode_seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_worker(spec, args):
    """Measure one (model, backend) in a fresh process; its last stdout line is the JSON result."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec), "--model", "unused=.",
               "--input_file", args.input_file, "--max_texts", str(args.max_texts),
               "--latency_texts", str(args.latency_texts), "--cpu_threads", str(args.cpu_threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode == 2:  # the worker's one-line `error:` (a damaged export, say)
        raise InputError(done.stderr.strip().splitlines()[-1].removeprefix("error: "))
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_serving(model_dir, backend, texts, clients, n_requests, cpu_threads, workers):
    """Sentences/s and request latency of serve.py under `clients` concurrent one-text requests on loopback."""
    with running_server(model_dir, "--backend", backend, "--cpu_threads", str(cpu_threads),
                        "--workers", str(workers)) as url:
        payloads = [{"texts": [texts[i % len(texts)]]} for i in range(n_requests)]
        post_concurrently(f"{url}/predict", payloads[: clients * 4], clients)  # warm-up
        wall, latencies = post_concurrently(f"{url}/predict", payloads, clients)
    return {"backend": backend, "clients": clients, "workers": workers, "requests": n_requests,
            "texts_per_request": 1, "sentences_per_s": round(n_requests / wall, 1),
            "latency_ms": percentiles_ms(latencies)}


def untrained_teacher(row):
    """A teacher made from random weights (make_tiny_teacher.py): its speed is real, its accuracy means nothing."""
    return row["kind"] == "teacher" and row["pretrained"] is False


def markdown(rows, serving, args, n_texts):
    lines = [
        f"Texts: {n_texts} from `{os.path.relpath(args.input_file, ROOT)}`, CPU, {args.cpu_threads} threads. "
        "Latency in ms (end to end: tokenization + model); throughput in sentences/s at batch 32.",
        "",
        "| model | backend | dev accuracy | parameters | size on disk | batch 1 p50 / p90 / p99 | "
        "batch 32 p50 / p90 / p99 | sent/s end to end | sent/s model only | sent/s encoding only | peak memory |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows:
        accuracy = "n/a" if row["accuracy"] is None else f"{row['accuracy'] * 100:.2f}%"
        if untrained_teacher(row) and row["accuracy"] is not None:
            accuracy += " (untrained)"
        b1, b32 = row["batch1_ms"], row["batch32_ms"]
        lines.append(
            f"| {name} | {row['backend']} | {accuracy} | {row['num_parameters'] / 1e6:.1f}M | {row['size_mb']:.1f} MB "
            f"| {b1['p50']} / {b1['p90']} / {b1['p99']} | {b32['p50']} / {b32['p90']} / {b32['p99']} "
            f"| {row['batch32_sentences_per_s']:.0f} | {row['batch32_model_only_sentences_per_s']:.0f} "
            f"| {row['encode_only_sentences_per_s']:.0f} | {row['peak_rss_mb']} MB |")
    teachers = [row for _, row in rows if row["kind"] == "teacher"]
    students = [(name, row) for name, row in rows if row["kind"] == "student"]
    if teachers and students:
        best_teacher = max(teachers, key=lambda r: r["batch32_sentences_per_s"])
        name, best_student = max(students, key=lambda nr: nr[1]["batch32_sentences_per_s"])
        speedup = best_student["batch32_sentences_per_s"] / best_teacher["batch32_sentences_per_s"]
        lines += ["", f"Student ({name}, {best_student['backend']}) vs teacher ({best_teacher['backend']}), each at "
                  f"its best: end-to-end throughput at batch 32 **{speedup:.1f}x** the teacher's; teacher/student "
                  f"parameters **{best_teacher['num_parameters'] / best_student['num_parameters']:.1f}x**; best "
                  f"student batch-1 p99 **{min(r['batch1_ms']['p99'] for _, r in students):.2f} ms**."]
    if serving:
        lines += ["", f"Served by `serve.py` ({serving[0]['name']}, {serving[0]['backend']}, micro-batching on), "
                  "one-text requests from concurrent clients, each on its own keep-alive connection, on loopback "
                  "(the clients share the server's cores):", "",
                  "| workers | clients | requests | sentences/s | latency p50 | latency p99 |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {s['workers']} | {s['clients']} | {s['requests']} | {s['sentences_per_s']:.0f} "
                  f"| {s['latency_ms']['p50']} ms | {s['latency_ms']['p99']} ms |" for s in serving]
    return "\n".join(lines) + "\n"


def chart(rows, path):
    # Agg, chosen before matplotlib is imported: an MPLBACKEND inherited from a Jupyter kernel can fail the import
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib.pyplot as plt

    from matplotlib.patches import Patch

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = ["tab:red" if row["kind"] == "teacher" else "tab:blue" for _, row in rows]
    right.bar(range(len(rows)), [row["batch32_sentences_per_s"] for _, row in rows], color=colors)
    right.set_xticks(range(len(rows)), [f"{name}\n{row['backend']}" for name, row in rows], fontsize=7, rotation=45,
                     ha="right")
    right.set_yscale("log")
    right.set_ylabel("sentences/s, batch 32, end to end (log)")
    right.set_title("Throughput")
    right.legend(handles=[Patch(color="tab:red", label="teacher"), Patch(color="tab:blue", label="student")],
                 fontsize=8, loc="upper left")
    for (name, row), color in zip(rows, colors):
        latency = row["batch1_ms"]["p50"]
        same_model = [r for n, r in rows if n == name]
        fastest = row is min(same_model, key=lambda r: r["batch1_ms"]["p50"])  # (one of a tie)
        if untrained_teacher(row):  # its latency only, one label for all its backends (their lines may touch)
            left.axvline(latency, color=color, linestyle="--", linewidth=1)
            if fastest:
                backends = ", ".join(f"{r['backend']} {r['batch1_ms']['p50']:g} ms"
                                     for r in sorted(same_model, key=lambda r: r["batch1_ms"]["p50"]))
                left.annotate(f"{name}, untrained (accuracy n/a):\n{backends}", (latency, 0.5),
                              xycoords=("data", "axes fraction"), fontsize=8, rotation=90, ha="right", va="center")
        elif row["accuracy"] is not None:  # a model's backends share its accuracy: one label, at the fastest
            left.scatter(latency, row["accuracy"] * 100, color=color, s=60)
            if fastest:
                left.annotate(f"{name} ({row['backend']}; its other backends to the right)",
                              (latency, row["accuracy"] * 100), fontsize=8, xytext=(5, 5), textcoords="offset points")
    left.margins(y=0.15)  # room for the labels above the top points
    left.set_xscale("log")
    left.set_xlabel("batch-1 latency p50, ms (log)")
    left.set_ylabel("dev accuracy, %")
    left.set_title("Accuracy vs latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        texts, labels = read_texts(args.input_file, args.max_texts, Manifest.read(spec["model_dir"]).labels)
        print(json.dumps(measure(spec["model_dir"], spec["backend"], texts, labels, args.latency_texts,
                                 args.cpu_threads)))
        return
    manifests = {name: Manifest.read(model_dir) for name, model_dir in args.model}  # not an export: fail now
    texts, _ = read_texts(args.input_file, args.max_texts, manifests[args.model[0][0]].labels)
    os.makedirs(args.output_dir, exist_ok=True)

    rows = []
    for name, model_dir in args.model:
        for backend in args.backends:
            if not manifests[name].has_backend(backend):
                logger.info("%s: no %s, skipping %s", name, " or ".join(sorted(BACKEND_FILES[backend])), backend)
                continue
            if backend == "paddle-bf16" and manifests[name].kind != "teacher":
                continue
            logger.info("measuring %s on %s (%d texts)", name, backend, len(texts))
            rows.append((name, run_worker({"model_dir": model_dir, "backend": backend}, args)))
            logger.info("%s", rows[-1][1])

    serving = []
    students = [(name, row) for name, row in rows if row["kind"] == "student"]
    if students:  # the first student, on its fastest backend end to end
        name, fastest = max((nr for nr in students if nr[0] == students[0][0]),
                            key=lambda nr: nr[1]["batch32_sentences_per_s"])
        for workers in args.serve_workers:
            for clients in args.serve_clients:
                logger.info("measuring serve.py with %s on %s, %d worker(s), %d clients", name, fastest["backend"],
                            workers, clients)
                serving.append({"name": name, **measure_serving(dict(args.model)[name], fastest["backend"], texts,
                                                                clients, args.serve_requests, args.cpu_threads,
                                                                workers)})

    table = markdown(rows, serving, args, len(texts))
    with open(os.path.join(args.output_dir, "benchmark.md"), "w", encoding="utf-8") as f:
        f.write(table)
    write_json(os.path.join(args.output_dir, "benchmark.json"),
               {"rows": [{"name": name, **row} for name, row in rows], "serving": serving,
                "settings": {k: v for k, v in vars(args).items() if k != "worker"}})
    chart(rows, os.path.join(args.output_dir, "benchmark.png"))
    print(table)
    logger.info("wrote benchmark.md, benchmark.json and benchmark.png to %s", args.output_dir)


if __name__ == "__main__":
    sys.exit(run_cli(main))
