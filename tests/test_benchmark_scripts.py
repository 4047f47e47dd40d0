"""The student and peers benchmarks on the small fixture (the peers only where their extras are installed)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURE_DIR, ROOT, TINY_STUDENT


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
    pytest.importorskip("sklearn")
    pytest.importorskip("fasttext")
    done = run("scripts/benchmark_peers.py", "--data_dir", FIXTURE_DIR, "--ood_file",
               os.path.join(FIXTURE_DIR, "dev.tsv"), "--quick", "--output_dir", str(tmp_path))
    rows = json.loads((tmp_path / "peers.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["char 1-3-gram TF-IDF + LogisticRegression", "fastText, characters",
                                         "fastText, jieba words + bigrams"]
    assert all(r["dev_accuracy"] == r["ood_accuracy"] and r["texts_per_second"] > 0 for r in rows)
    assert rows[0]["dev_accuracy"] > 0.8 and "| fastText, characters |" in done.stdout  # an easy fixture


def test_peers_benchmark_on_a_three_class_task(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("fasttext")
    topics = os.path.join(ROOT, "tests", "fixtures", "topics")
    run("scripts/benchmark_peers.py", "--data_dir", topics, "--task_name", "topics", "--ood_file", "", "--quick",
        "--output_dir", str(tmp_path))
    rows = json.loads((tmp_path / "peers.json").read_text())["rows"]
    assert all(set(r["dev_per_class"]) == {"体育", "财经", "科技"} and r["ood_accuracy"] is None for r in rows)


def test_distillation_experiments_write_one_summary_schema_and_share_their_runs(tmp_path):
    pytest.importorskip("sklearn")
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
                   str(tmp_path / experiment), *common, "--", "--num_epochs", "1")
        summaries[experiment] = json.loads((tmp_path / experiment / "summary.json").read_text())
        assert "| control |" in done.stdout
    assert list(summaries["few_labels"]["models"]) == ["control", "distilled", "full_labels", "teacher"]
    assert list(summaries["unlabeled"]["models"]) == ["control", "distilled", "teacher"]
    assert list(summaries["embeddings"]["models"]) == ["control", "embeddings"]
    few = summaries["few_labels"]["models"]
    assert few["distilled"]["best_models"] == [few["distilled"]["best_model"]]
    assert few["distilled"]["best_model"].endswith("few_labels-distilled-s1/best_model")
    for split in ("dev", "online_shopping_dev"):  # here the out-of-domain file is dev itself
        assert few["control"][split] == few["control"]["dev"] and len(few["control"][split]["per_seed"]) == 1
    assert few["full_labels"]["best_models"] == summaries["unlabeled"]["models"]["control"]["best_models"]  # shared
    assert 0 <= summaries["few_labels"]["mcnemar_distilled_vs_control"]["dev"]["p_value"] <= 1
    assert set(summaries["few_labels"]["goals"]) == {"gap_closed_on_dev", "met"}
    train_rows = len((tmp_path / "few_labels" / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()) - 1
    assert train_rows == 24  # 10% of the fixture's 240, stratified


def test_predict_benchmark_takes_turns_and_checks_every_line(exported_student, tmp_path):
    run("scripts/benchmark_predict.py", "--model_dir", exported_student, "--input_file",
        os.path.join(FIXTURE_DIR, "dev.tsv"), "--lines", "300", "--rounds", "2", "--output_dir", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for row in summary["rounds"]:
        assert row["ratio"] == pytest.approx(row["predict"] / ((row["benchmark_before"] + row["benchmark_after"]) / 2),
                                             abs=1e-3)
        assert 0 < row["peak_mb"] < 2000
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
