"""predict.py over a large file, against scripts/benchmark.py's end-to-end figure, measured in turns on one machine.

    python scripts/benchmark_predict.py --model_dir tmp/export/student --lines 500000

Writes --output_dir/input.txt: the texts of --input_file cycled to --lines lines, each made distinct by a suffix (第N条)
so that no cache of a repeated text helps, and benchmark_input.txt, its first lines, as many as --input_file has texts
(both measure the same texts, suffix included). Then, --rounds times, runs scripts/benchmark.py on benchmark_input.txt
(its end-to-end sentences/s) and `predict.py --input_file input.txt` (wall time, start-up included; peak memory), and
benchmark.py once more at the end. As a shared machine's speed drifts by tens of percent within minutes, each
predict.py run is set against the mean of the benchmark runs just before and after it. Prints a table; writes
summary.json.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from ernie_distill.atomic import write_json
from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import read_bytes, read_text_lines
from ernie_distill.deploy.manifest import BACKENDS, Manifest
from ernie_distill.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def failed(command, stderr):
    """The InputError saying which command failed and the last line it wrote (an `error:` line, or a traceback's)."""
    last = (stderr.decode(errors="replace").strip().splitlines() or ["(nothing on stderr)"])[-1]
    return InputError(f"{command} failed: {last.removeprefix('error: ')}")


def benchmark_rate(model_dir, backend, input_file, output_dir):
    """benchmark.py's end-to-end sentences/s for the model (serving and most batch-1 timing left out)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmark.py"), "--model",
                           f"student={model_dir}", "--backends", backend, "--input_file", input_file,
                           "--latency_texts", "64", "--serve_clients", "0", "--output_dir", output_dir],
                          capture_output=True, cwd=ROOT)
    if done.returncode != 0:
        raise failed("scripts/benchmark.py", done.stderr)
    with open(os.path.join(output_dir, "benchmark.json"), encoding="utf-8") as f:
        return json.load(f)["rows"][0]["batch32_sentences_per_s"]


def predict_run(model_dir, backend, path, lines, output_path):
    """(texts/s, start-up included; peak memory in MB) of predict.py over `path`, its output checked line by line."""
    began = time.perf_counter()
    with open(output_path, "wb") as out:
        process = subprocess.Popen([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir", model_dir,
                                    "--backend", backend, "--input_file", path], stdout=out, stderr=subprocess.PIPE)
        with process.stderr:
            stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)  # (Popen's wait() gives no resource usage)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise failed("predict.py", stderr)
    with open(output_path, "rb") as f:
        written = sum(1 for _ in f)
    if written != lines:
        raise InputError(f"predict.py wrote {written} lines for {lines} texts: see {output_path}")
    return lines / seconds, usage.ru_maxrss / 1024


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", required=True, help="a student exported by export_model.py")
    parser.add_argument("--backend", default="numba", choices=BACKENDS)
    parser.add_argument("--input_file", default=os.path.join(ROOT, "..", "shared", "data", "chnsenticorp", "dev.tsv"))
    parser.add_argument("--lines", type=positive_int, default=500_000)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "tmp", "benchmark-predict"))
    args = parser.parse_args()
    manifest = Manifest.read(args.model_dir)  # (not an export: one error line)
    if manifest.kind != "student":
        parser.error(f"{args.model_dir} is a {manifest.kind}: this benchmark measures a student (a teacher's speed is "
                     "in scripts/benchmark.py)")
    if not manifest.has_backend(args.backend):
        parser.error(f"--backend {args.backend}: {args.model_dir} has no files for it; export it with that backend")
    labels = manifest.labels
    raw = read_bytes(args.input_file, f"--input_file {args.input_file}")
    texts = [e.text for e in read_text_lines(raw, args.input_file, labels)[0]]
    if not texts:
        parser.error(f"--input_file {args.input_file} holds no text")
    os.makedirs(args.output_dir, exist_ok=True)
    big, sample = os.path.join(args.output_dir, "input.txt"), os.path.join(args.output_dir, "benchmark_input.txt")
    lines = [f"{texts[i % len(texts)]}第{i}条\n" for i in range(args.lines)]
    for path, part in ((big, lines), (sample, lines[: len(texts)])):  # (the benchmark: the same texts, as many as given)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(part)
    print(f"{args.lines:,} lines, {os.path.getsize(big) / 1e6:.0f} MB, in {big}", flush=True)

    def bench():
        return benchmark_rate(args.model_dir, args.backend, sample, os.path.join(args.output_dir, "bench"))

    rows, before = [], bench()
    print("| round | benchmark.py before | predict.py | benchmark.py after | predict.py / their mean | peak memory |\n"
          "|---|---|---|---|---|---|", flush=True)
    for round_ in range(1, args.rounds + 1):
        rate, peak = predict_run(args.model_dir, args.backend, big, args.lines,
                                 os.path.join(args.output_dir, "predictions.jsonl"))
        after = bench()
        rows.append({"round": round_, "benchmark_before": before, "predict": round(rate, 1), "benchmark_after": after,
                     "ratio": round(rate / ((before + after) / 2), 3), "peak_mb": round(peak)})
        print("| {round} | {benchmark_before:,.0f} | {predict:,.0f} | {benchmark_after:,.0f} | {ratio:.0%} | "
              "{peak_mb} MB |".format(**rows[-1]), flush=True)
        before = after
    ratio = statistics.median(row["ratio"] for row in rows)
    print(f"median predict.py / benchmark.py: {ratio:.0%} (goal: at least 85%)")
    if args.lines < 100_000:
        print(f"(over {args.lines:,} lines predict.py's start-up, a second or two, weighs on its rate: the goal is "
              "about --lines 500000)")
    write_json(os.path.join(args.output_dir, "summary.json"),
               {"rounds": rows, "median_ratio": ratio, "lines": args.lines, "model_dir": args.model_dir,
                "backend": args.backend})


if __name__ == "__main__":
    sys.exit(run_cli(main))
