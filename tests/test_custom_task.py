"""Your own task: a 3-class fixture with name labels (and some integer-id labels) through the whole chain."""
import json
import os
import subprocess
import sys

import pytest
import requests

import distill_lstm
import run_glue
from conftest import ROOT, TINY_STUDENT, export, glue_args
from server_launcher import running_server

TOPICS = os.path.join(ROOT, "tests", "fixtures", "topics")
NAMES = ["体育", "财经", "科技"]
TEXTS = ["球队比赛进球", "股票基金上涨", "手机芯片屏幕"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Teacher (tiny, random-init) -> distilled student -> export, all on the topics fixture."""
    from ernie_distill.data.reading import load_splits, load_task
    from ernie_distill.models.random_teacher import make_random_teacher

    root = tmp_path_factory.mktemp("topics")
    task = load_task("topics", TOPICS)
    texts = [e.text for e in load_splits(task, TOPICS, ("train",))["train"]]
    init = make_random_teacher(texts, str(root / "init"), hidden_size=32, task=task)
    args = glue_args(init, str(root / "teacher"), "--num_train_epochs", "8", "--save_steps", "0")
    args[args.index("--data_dir") + 1], args[args.index("--task_name") + 1] = TOPICS, "topics"
    run_glue.main(args)
    distill_lstm.main(["--task_name", "topics", "--data_dir", TOPICS, "--output_dir", str(root / "student"),
                       "--teacher_dir", str(root / "teacher" / "best_model"), "--cache_dir", str(root / "cache"),
                       "--n_iter", "2", "--num_epochs", "8", *TINY_STUDENT])
    return root, export(str(root / "student" / "best_model"), str(root / "export"), "--onnx")


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_label_names_flow_into_every_output(chain):
    root, exported = chain
    assert read(root / "teacher" / "best_model" / "teacher_info.json")["label_names"] == NAMES
    metrics = read(root / "student" / "metrics.json")
    assert metrics["label_names"] == NAMES and set(metrics["dev_per_class"]) == set(NAMES)
    assert metrics["dev_accuracy"] > 0.6 and metrics["dev_macro_f1"] is not None  # chance is 1/3
    manifest = read(os.path.join(exported, "manifest.json"))
    assert manifest["label_names"] == NAMES and manifest["task_name"] == "topics"


def test_predict_and_serve_answer_with_label_names(chain):
    _, exported = chain
    done = subprocess.run([sys.executable, "predict.py", "--model_dir", exported, *sum([["--text", t] for t in TEXTS],
                                                                                       [])],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["label"] for r in results} <= set(NAMES) and len(results) == 3
    with running_server(exported) as url:
        served = requests.post(f"{url}/predict", json={"texts": TEXTS}, timeout=30).json()["results"]
    assert served == results


def test_a_teacher_trained_on_other_labels_is_refused(chain, trained_teacher, tmp_path):
    root, _ = chain
    with pytest.raises(ValueError, match=r"predicts labels \['0', '1'\], but task topics has labels"):
        distill_lstm.main(["--task_name", "topics", "--data_dir", TOPICS, "--output_dir", str(tmp_path),
                           "--teacher_dir", os.path.join(trained_teacher, "best_model"), *TINY_STUDENT])


@pytest.mark.parametrize("data_dir, task_name, hidden_size", [
    (os.path.join(ROOT, "tests", "fixtures", "easy"), "chnsenticorp", 32),
    (TOPICS, "topics", 128),  # a narrow Bi-LSTM loses rare classes of a many-class task
])
def test_the_default_width_is_32_for_two_classes_and_128_for_more(tmp_path, data_dir, task_name, hidden_size):
    width = TINY_STUDENT.index("--hidden_size")
    distill_lstm.main(["--task_name", task_name, "--data_dir", data_dir, "--output_dir", str(tmp_path), "--num_epochs",
                       "1", *TINY_STUDENT[:width], *TINY_STUDENT[width + 2 :]])
    assert read(tmp_path / "best_model" / "student_config.json")["hidden_size"] == hidden_size
    assert read(tmp_path / "metrics.json")["args"]["hidden_size"] == hidden_size


def test_default_flags_learn_a_small_task_of_ones_own_and_name_it_after_its_folder(tmp_path, log_lines):
    """150 texts of 3 classes, no --task_name, no --num_epochs: the data sets the schedule (6 epochs of 5 steps, the
    old default, left it at 63% dev accuracy) and early stopping ends it; the folder names the task."""
    distill_lstm.main(["--data_dir", TOPICS, "--output_dir", str(tmp_path), "--embedding_dim", "32", "--hidden_size",
                       "32", "--vocab_min_freq", "1", "--device", "cpu"])
    metrics = read(tmp_path / "metrics.json")
    assert metrics["dev_accuracy"] >= 0.9 and metrics["steps"] > 30 and metrics["stopped_early"]
    assert metrics["task_name"] == "topics" and read(tmp_path / "best_model" / "student_info.json")["task_name"] == \
        "topics"
    assert metrics["guessing"]["warning"] is None and metrics["guessing"]["majority_rate"] == pytest.approx(1 / 3)
    assert not any("barely better than guessing" in line for line in log_lines)


def test_a_student_barely_better_than_guessing_says_so(tmp_path, log_lines):
    distill_lstm.main(["--data_dir", TOPICS, "--output_dir", str(tmp_path), *TINY_STUDENT, "--num_epochs", "1",
                       "--learning_rate", "1e-6"])
    warning = read(tmp_path / "metrics.json")["guessing"]["warning"]
    assert warning.startswith("barely better than guessing") and "--num_epochs" in warning, warning
    assert f"this student is {warning}" in log_lines
