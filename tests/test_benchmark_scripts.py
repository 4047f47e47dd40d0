"""The student, peers, distillation and predict.py benchmarks on the small fixtures."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURE_DIR, ROOT, TINY_STUDENT, require
from ernie_distill.data.reading import load_splits, load_task


def run(*argv):
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_student_benchmark_reports_mean_and_spread_over_seeds_and_reuses_finished_runs(tmp_path):
    dev = os.path.join(FIXTURE_DIR, "dev.tsv")
    argv = ["scripts/benchmark_student.py", "--data_dir", FIXTURE_DIR, "--ood_file", dev, "--seeds", "1", "2",
            "--name", "tiny", "--output_dir", str(tmp_path / "tiny"), "--", "--num_epochs", "1", *TINY_STUDENT]
    first = run(*argv)
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [1, 2]
    for r in summary["runs"]:  # the out-of-domain file is the dev file here, so both scores agree
        assert r["ood"] == pytest.approx(r["dev"])
    assert "| tiny |" in first.stdout and " ± " in summary["row"]
    again = run(*argv)
    assert again.stderr.count("already trained with this command") == 2 and summary["row"] in again.stdout
    shutil.copytree(tmp_path / "tiny", tmp_path / "copy")  # the same models under another name: no difference
    compared = run("scripts/compare_students.py", str(tmp_path / "tiny"), str(tmp_path / "copy"), "--seeds", "1", "2",
                   "--data_dir", FIXTURE_DIR, "--ood_file", dev).stdout.splitlines()
    dev_mean = sum(r["dev"] for r in summary["runs"]) / 2 * 100
    assert compared[0].startswith(f"dev: tiny {dev_mean:.2f} ± ") and f"; copy {dev_mean:.2f} ± " in compared[0]
    assert len(compared) == 2 and compared[1].startswith("out of domain:")
    assert compared[1].endswith("tiny alone right on 0 texts, copy alone on 0: exact McNemar p = 1.000")


def test_peers_benchmark_on_the_fixture(tmp_path):
    require("sklearn")
    require("fasttext")
    done = run("scripts/benchmark_peers.py", "--data_dir", FIXTURE_DIR, "--ood_file",
               os.path.join(FIXTURE_DIR, "dev.tsv"), "--quick", "--output_dir", str(tmp_path))
    rows = json.loads((tmp_path / "peers.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["char 1-3-gram TF-IDF + LogisticRegression", "fastText, characters",
                                         "fastText, jieba words + bigrams"]
    assert all(r["dev_accuracy"] == r["ood_accuracy"] and r["texts_per_second"] > 0 for r in rows)
    assert rows[0]["dev_accuracy"] > 0.8 and "| fastText, characters |" in done.stdout  # an easy fixture


def test_peers_benchmark_on_a_three_class_task(tmp_path):
    require("sklearn")
    require("fasttext")
    topics = os.path.join(ROOT, "tests", "fixtures", "topics")
    run("scripts/benchmark_peers.py", "--data_dir", topics, "--task_name", "topics", "--ood_file", "", "--quick",
        "--output_dir", str(tmp_path))
    rows = json.loads((tmp_path / "peers.json").read_text())["rows"]
    assert all(set(r["dev_per_class"]) == {"体育", "财经", "科技"} and r["ood_accuracy"] is None for r in rows)


def test_distillation_experiments_write_one_summary_schema_and_share_their_runs(tmp_path):
    require("sklearn")
    dev = os.path.join(FIXTURE_DIR, "dev.tsv")
    (tmp_path / "reviews.txt").write_text("房间很大，早餐丰富\n物流太慢了，包装也破了\n", encoding="utf-8")
    (tmp_path / "vectors.txt").write_text("".join(f"{c} {' '.join(['0.1'] * 200)}\n" for c in "好差房间"),
                                          encoding="utf-8")
    common = ["--data_dir", FIXTURE_DIR, "--ood_file", dev, "--seeds", "1", "--runs_dir", str(tmp_path / "runs"),
              "--unlabeled_file", str(tmp_path / "reviews.txt"), "--pretrained_embeddings",
              str(tmp_path / "vectors.txt")]
    summaries = {}
    for experiment in ("few_labels", "unlabeled", "embeddings"):
        done = run("scripts/benchmark_distill.py", "--experiment", experiment, "--output_dir",
                   str(tmp_path / experiment), *common, "--run_args", "--num_epochs 1")
        summaries[experiment] = json.loads((tmp_path / experiment / "summary.json").read_text())
        assert "| control |" in done.stdout
    assert list(summaries["few_labels"]["models"]) == ["control", "distilled", "full_labels", "teacher"]
    assert summaries["few_labels"]["run_args"] == ["--num_epochs", "1"]  # (every run's flags, recorded)
    assert list(summaries["unlabeled"]["models"]) == ["control", "distilled", "teacher"]
    assert list(summaries["embeddings"]["models"]) == ["control", "embeddings"]
    few = summaries["few_labels"]["models"]
    assert few["distilled"]["best_models"] == [few["distilled"]["best_model"]]
    assert re.search(r"/few_labels-distilled-s1-[0-9a-f]{12}/best_model$", few["distilled"]["best_model"])
    for split in ("dev", "online_shopping_dev"):  # here the out-of-domain file is dev itself
        assert few["control"][split] == few["control"]["dev"] and len(few["control"][split]["per_seed"]) == 1
    assert few["full_labels"]["best_models"] == summaries["unlabeled"]["models"]["control"]["best_models"]  # shared
    # the McNemar test, from the two best models' own predictions on dev and an independent binomial test
    from scipy.stats import binomtest

    from ernie_distill.models.student import load_student, student_logits

    dev_examples = load_splits(load_task("chnsenticorp"), FIXTURE_DIR, ("dev",))["dev"]
    right = {}
    for name in ("distilled", "control"):
        model, inputs, _ = load_student(few[name]["best_model"])
        predicted = student_logits(model, inputs, [inputs.encode(e.text) for e in dev_examples]).argmax(axis=1)
        right[name] = predicted == np.array([e.label for e in dev_examples])
    a, b = right["distilled"], right["control"]
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    mcnemar = summaries["few_labels"]["mcnemar_distilled_vs_control"]["dev"]
    assert (mcnemar["only_a"], mcnemar["only_b"]) == (only_a, only_b)
    expected = binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    assert mcnemar["p_value"] == pytest.approx(expected, rel=1e-9)
    assert few["distilled"]["dev"]["per_seed"] == [round(right["distilled"].mean() * 100, 2)]
    assert set(summaries["few_labels"]["goals"]) == {"gap_closed_on_dev", "met"}
    train_rows = len((tmp_path / "few_labels" / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()) - 1
    assert train_rows == 24  # 10% of the fixture's 240, stratified


def test_a_distillation_experiment_reruns_after_a_code_change_into_another_output_dir(tmp_path):
    """few_labels run from a copy of the checkout; then, after a change to its code, into another output dir: every
    run and the transfer set are made again under new names beside the first ones, which are left as they were; then
    the same command once more: all of it reused."""
    require("sklearn")
    checkout, runs = tmp_path / "checkout", tmp_path / "runs"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".git", ".venv*", "tmp", "__pycache__", "*.egg-info",
                                                                  "build", "log"))
    env = {**os.environ, "PYTHONPATH": str(checkout)}  # the copy's package, whose code the runs' names digest
    dev = os.path.join(FIXTURE_DIR, "dev.tsv")

    def experiment(output_dir):
        done = subprocess.run([sys.executable, str(checkout / "scripts" / "benchmark_distill.py"), "--experiment",
                               "few_labels", "--output_dir", str(tmp_path / output_dir), "--data_dir", FIXTURE_DIR,
                               "--ood_file", dev, "--seeds", "1", "--runs_dir", str(runs),
                               "--run_args=--num_epochs 1"],
                              cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr, json.loads((tmp_path / output_dir / "summary.json").read_text())["models"]

    def made():  # what each file in the runs dir holds, by name
        return {str(p.relative_to(runs)): p.read_bytes() for p in sorted(runs.rglob("*")) if p.is_file()
                and "cache" not in p.parts}

    _, first = experiment("first")
    first_runs = made()
    with open(checkout / "ernie_distill" / "training" / "losses.py", "a", encoding="utf-8") as f:
        f.write("# a change to the code\n")
    log, second = experiment("second")
    assert "already trained" not in log  # the code changed: nothing is reused
    for name in ("control", "distilled", "full_labels"):
        assert second[name]["best_model"] != first[name]["best_model"]
    transfer_sets = sorted(path for path in made() if path.endswith(".transfer.txt"))
    assert len(transfer_sets) == 2  # one for each code
    assert {path: made()[path] for path in first_runs} == first_runs  # the first runs' files, untouched

    log, again = experiment("second")
    assert "$ " not in log and log.count("already trained with this command and code") == 6  # hard, 3 teacher students,
    assert again == second                                                                   # few-hard, distilled
    assert sorted(path for path in made() if path.endswith(".transfer.txt")) == transfer_sets


def test_predict_benchmark_takes_turns_and_checks_every_line(exported_student, tmp_path):
    run("scripts/benchmark_predict.py", "--model_dir", exported_student, "--input_file",
        os.path.join(FIXTURE_DIR, "dev.tsv"), "--lines", "300", "--rounds", "2", "--output_dir", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    rounds = summary["rounds"]
    for row in rounds:
        assert row["ratio"] == pytest.approx(row["predict"] / ((row["benchmark_before"] + row["benchmark_after"]) / 2),
                                             abs=1e-3)
        assert 0 < row["peak_mb"] < 2000
    assert rounds[1]["benchmark_before"] == rounds[0]["benchmark_after"]  # each benchmark run is set against both sides
    last_benchmark = json.loads((tmp_path / "bench" / "benchmark.json").read_text())["rows"]
    assert [(r["texts"], r["batch32_sentences_per_s"]) for r in last_benchmark] == [(60, rounds[-1]["benchmark_after"])]
    assert summary["median_ratio"] == statistics.median(r["ratio"] for r in rounds)
    lines = (tmp_path / "input.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and len(set(lines)) == 300 and lines[-1].endswith("第299条")
    sample = (tmp_path / "benchmark_input.txt").read_text(encoding="utf-8").splitlines()  # the same texts
    assert 0 < len(sample) < 300 and sample == lines[: len(sample)]


def test_a_small_task_of_ones_own_is_made_seeded_and_its_student_scored_on_the_held_out_texts(tmp_path):
    """make_small_task.py: N texts a class of a few classes, dev and held-out test from the dev split, no text twice;
    benchmark_student.py then scores its held-out texts (a task named after its folder, not a built-in one)."""
    topics = os.path.join(ROOT, "tests", "fixtures", "topics")
    for name in ("a", "b"):
        run("scripts/make_small_task.py", "--source", topics, "--output_dir", str(tmp_path / name), "--classes", "2",
            "--per_class", "20", "--dev_per_class", "4", "--test_per_class", "6")
    files = {f: (tmp_path / "a" / f).read_text() for f in ("labels.txt", "train.tsv", "dev.tsv", "test.tsv")}
    assert files == {f: (tmp_path / "b" / f).read_text() for f in files}  # seeded
    labels = files["labels.txt"].split()
    rows = {split: [line.split("\t") for line in files[f"{split}.tsv"].splitlines()[1:]] for split in
            ("train", "dev", "test")}
    assert len(labels) == 2 and [len(rows[s]) for s in ("train", "dev", "test")] == [40, 8, 12]
    assert all(sum(label == name for label, _ in rows[s]) == len(rows[s]) // 2 for s in rows for name in labels)
    assert not {t for _, t in rows["dev"]} & {t for _, t in rows["test"]}
    out = tmp_path / "student"
    run("scripts/benchmark_student.py", "--data_dir", str(tmp_path / "a"), "--ood_file",
        str(tmp_path / "a" / "test.tsv"), "--seeds", "1", "--output_dir", str(out), "--", "--num_epochs", "1", *TINY_STUDENT)
    assert json.loads((out / "summary.json").read_text())["runs"][0]["ood"] is not None
    assert json.loads((out / "seed-1" / "metrics.json").read_text())["task_name"] == "a"


def test_the_scaling_benchmark_counts_the_machines_busy_cpu_seconds_as_psutil_does(monkeypatch):
    psutil = require("psutil")
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        import benchmark_scaling
    finally:
        sys.path.remove(os.path.join(ROOT, "scripts"))
    busy = lambda t: t.user + t.nice + t.system + t.irq + t.softirq  # noqa: E731
    before, ours, after = psutil.cpu_times(), benchmark_scaling.busy_cpu_seconds(), psutil.cpu_times()
    assert busy(before) - 1e-6 <= ours <= busy(after) + 1e-6
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert benchmark_scaling.machine().endswith(", 1 CPUs")
    assert benchmark_scaling.or_na(None, ".1f") == "n/a" and benchmark_scaling.or_na(1234.5, ",.1f") == "1,234.5"
