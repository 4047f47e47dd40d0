"""Scaling out, measured in one run: the teacher pass (predict.py --logits) on 1 and on 2 ranks of
paddle.distributed.launch, and student scoring in one predict.py process against predict.py --engine ray with 2
workers; one thread a process throughout.

    python scripts/make_tiny_teacher.py --size base --data_dir ../shared/data/chnsenticorp --output_dir tmp/base-teacher
    python export_model.py --model_dir tmp/base-teacher --output_path tmp/export/base-teacher --task_name ChnSentiCorp
    python scripts/benchmark_scaling.py --teacher_dir tmp/export/base-teacher --student_dir tmp/export/student

The inputs are the texts of --input_file cycled to --teacher_lines and --student_lines lines, each made distinct by a
suffix (第N条). Each figure is a whole command's wall time, start-up included; the teacher's time once every rank
has loaded the model (from the ranks' logs, to the second) and Ray's embedded cluster start are also printed apart.
Each run's CPU seconds are the whole machine's (from /proc/stat: Ray's workers, driver and daemons included), so
texts per CPU second compare the engines' cost where a machine has too few cores to give each process its own
(predict.py's one model thread has an encoding thread beside it); run it on an idle Linux machine.
The outputs are checked against the single process's (same rows; logits within 1e-4). Goals: 2 ranks >= 1.8x one rank;
Ray's texts/s per CPU >= 80% of the one predict.py process. Writes --output_dir/summary.json.
"""
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time

import numpy as np

from ernie_distill.atomic import write_json
from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import read_bytes, read_text_lines
from ernie_distill.deploy.manifest import Manifest
from ernie_distill.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICT = os.path.join(ROOT, "predict.py")


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (every process: Ray's workers and daemons too), from
    /proc/stat; None where there is none. Only meaningful on an otherwise idle machine."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    except OSError:
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def machine():
    """The CPU's model name (from /proc/cpuinfo, as lscpu shows it) and the CPUs this process may use."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.MULTILINE).group(1)
    except (OSError, AttributeError):
        name = platform.processor() or platform.machine()
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count())
    return f"{name}, {len(usable)} CPUs"


def timed(name, command):
    """Seconds the command took (one thread a process), the machine's busy CPU seconds meanwhile (None off Linux) and
    its stderr. A failure is an InputError naming it."""
    began, busy = time.perf_counter(), busy_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise InputError(f"{name} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return time.perf_counter() - began, None if busy is None else busy_cpu_seconds() - busy, done.stderr


def or_na(value, spec):
    return "n/a" if value is None else format(value, spec)


def logged_at(log_dir, rank, message):
    """When the launcher's worker log of `rank` first says `message` (the logger's timestamp, to the second)."""
    with open(os.path.join(log_dir, f"workerlog.{rank}"), encoding="utf-8") as f:
        found = re.search(r"^\[([\d-]+ [\d:]+)\] \[\s*INFO\] - " + re.escape(message), f.read(), re.MULTILINE)
    return time.mktime(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"))


def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--teacher_dir", required=True, help="an exported teacher (ERNIE-Gram's base shape)")
    parser.add_argument("--student_dir", required=True, help="an exported student")
    parser.add_argument("--input_file", default=os.path.join(ROOT, "..", "shared", "data", "chnsenticorp", "dev.tsv"))
    parser.add_argument("--teacher_lines", type=positive_int, default=600)
    parser.add_argument("--student_lines", type=positive_int, default=300_000)
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "tmp", "benchmark-scaling"))
    args = parser.parse_args()
    labels = Manifest.read(args.student_dir).labels
    texts = [e.text for e in read_text_lines(read_bytes(args.input_file, f"--input_file {args.input_file}"),
                                             args.input_file, labels)[0]]
    os.makedirs(args.output_dir, exist_ok=True)
    out = {name: os.path.join(args.output_dir, name) for name in (
        "teacher_input.txt", "student_input.txt", "teacher-1.jsonl", "teacher-2.jsonl", "student-1.jsonl",
        "student-ray.jsonl")}
    for name, count in (("teacher_input.txt", args.teacher_lines), ("student_input.txt", args.student_lines)):
        with open(out[name], "w", encoding="utf-8") as f:
            f.writelines(f"{texts[i % len(texts)]}第{i}条\n" for i in range(count))
    logs = {ranks: os.path.join(args.output_dir, f"launch-{ranks}") for ranks in (1, 2)}
    for path in [out[name] for name in out if name.endswith(".jsonl")] + list(logs.values()):
        if os.path.exists(path):  # (this script's own outputs of an earlier run)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    load_before = os.getloadavg()[0]
    seconds, cpu_seconds, after_loading = {}, {}, {}
    for ranks in (1, 2):  # 8 parts: the 2 ranks get 4 each
        name = f"teacher-{ranks}"
        seconds[name], cpu_seconds[name], _ = timed(f"the teacher pass on {ranks} rank(s)", [
            sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(ranks), "--log_dir",
            logs[ranks], PREDICT, "--model_dir", args.teacher_dir, "--input_file", out["teacher_input.txt"],
            "--logits", "--cpu_threads", "1", "--part_lines", str(math.ceil(args.teacher_lines / 8)), "--output_file",
            out[f"{name}.jsonl"]])
        loaded = max(logged_at(logs[ranks], rank, "the teacher from") for rank in range(ranks))
        after_loading[name] = logged_at(logs[ranks], 0, "wrote ") - loaded
    one, two = rows(out["teacher-1.jsonl"]), rows(out["teacher-2.jsonl"])
    if [r["text"] for r in one] != [r["text"] for r in two] or not np.allclose(
            [r["logits"] for r in one], [r["logits"] for r in two], atol=1e-4):
        raise InputError("the 2 ranks' teacher outputs differ from the single rank's")

    student = [PREDICT, "--model_dir", args.student_dir, "--input_file", out["student_input.txt"], "--cpu_threads", "1"]
    seconds["student-1"], cpu_seconds["student-1"], _ = timed(
        "predict.py", [sys.executable, *student, "--output_file", out["student-1.jsonl"]])
    seconds["student-ray"], cpu_seconds["student-ray"], stderr = timed("predict.py --engine ray", [
        sys.executable, *student, "--engine", "ray", "--num_workers", "2", "--output_file", out["student-ray.jsonl"]])
    ray_start = float(re.search(r"Ray cluster of [\d.]+ CPUs ready in ([\d.]+) s", stderr).group(1))
    with open(out["student-1.jsonl"], "rb") as a, open(out["student-ray.jsonl"], "rb") as b:
        if a.read() != b.read():
            raise InputError("Ray's output differs from predict.py's")

    rate = {name: (args.teacher_lines if name.startswith("teacher") else args.student_lines) / s
            for name, s in seconds.items()}
    ray_steady = args.student_lines / (seconds["student-ray"] - ray_start)
    per_cpu_second = {name: rate[name] * seconds[name] / cpu for name, cpu in cpu_seconds.items() if cpu}
    summary = {
        "machine": machine(), "load_average_before": load_before,
        "teacher_lines": args.teacher_lines, "student_lines": args.student_lines, "seconds": seconds,
        "texts_per_s": rate, "ray_cluster_start_s": ray_start,
        "teacher_speedup_2_ranks": rate["teacher-2"] / rate["teacher-1"],
        "teacher_seconds_after_loading": after_loading,
        "teacher_speedup_2_ranks_after_loading": after_loading["teacher-1"] / after_loading["teacher-2"],
        "ray_per_cpu_vs_one_process": rate["student-ray"] / 2 / rate["student-1"],
        "ray_per_cpu_vs_one_process_without_cluster_start": ray_steady / 2 / rate["student-1"],
        "cpu_seconds": cpu_seconds, "texts_per_cpu_second": per_cpu_second,
        "ray_texts_per_cpu_second_vs_one_process": (per_cpu_second["student-ray"] / per_cpu_second["student-1"]
                                                    if all(cpu_seconds.values()) else None),
    }
    print(f"{summary['machine']}; load average {load_before:.2f} before the runs (the CPU seconds count every "
          "process on the machine: they mean something only on an otherwise idle one)")
    print("| run | texts | seconds | texts/s | CPU seconds | texts per CPU second |\n|---|---|---|---|---|---|\n" +
          "".join(f"| {name} | {args.teacher_lines if name.startswith('teacher') else args.student_lines:,} | "
                  f"{s:.1f} | {rate[name]:,.1f} | {or_na(cpu_seconds[name], '.1f')} | "
                  f"{or_na(per_cpu_second.get(name), ',.1f')} |\n"
                  for name, s in seconds.items()))
    print(f"teacher pass, 2 ranks / 1 rank: {summary['teacher_speedup_2_ranks']:.2f}x (goal: at least 1.8x); "
          f"{summary['teacher_speedup_2_ranks_after_loading']:.2f}x once the ranks have loaded the model "
          f"({after_loading['teacher-1']:.0f} s and {after_loading['teacher-2']:.0f} s)")
    print(f"Ray texts/s per CPU / one predict.py process: {summary['ray_per_cpu_vs_one_process']:.0%} (goal: at least "
          f"80%); {summary['ray_per_cpu_vs_one_process_without_cluster_start']:.0%} without the cluster's start "
          f"({ray_start:.1f} s)")
    if summary["ray_texts_per_cpu_second_vs_one_process"]:
        print(f"Ray texts per CPU second (all its processes) / one predict.py process's: "
              f"{summary['ray_texts_per_cpu_second_vs_one_process']:.0%}")
    write_json(os.path.join(args.output_dir, "summary.json"), summary)


if __name__ == "__main__":
    sys.exit(run_cli(main))
