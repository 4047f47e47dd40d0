"""Shared fixtures: a tiny random-init ERNIE-Gram, fine-tuned on the easy fixture, and a tiny student.

Everything runs offline on CPU with small configs; the expensive pieces are built once per test session.
"""
import os
import socket
import time

import pytest

import ernie_distill  # noqa: F401  (first, before any test module imports Paddle: see ernie_distill/__init__.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "easy")
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data", "chnsenticorp")
TINY_STUDENT = ["--embedding_dim", "32", "--hidden_size", "32", "--batch_size", "16", "--learning_rate", "5e-3",
                "--vocab_min_freq", "1", "--device", "cpu"]


SENTENCES = ["这家酒店的服务非常好，房间也很干净，下次还会再来", "书的内容一般，纸张质量太差了，送货也很慢",
             "屏幕很漂亮，键盘手感不错，电池续航也很长", "前台服务员态度冷漠，早餐难吃，价格还贵"]


def fixture_texts():
    from ernie_distill.data.reading import load_splits, load_task

    return [e.text for e in load_splits(load_task("chnsenticorp"), FIXTURE_DIR, ("train",))["train"]]


@pytest.fixture
def log_lines():
    """What the project's logger says during a test (it writes to the stderr of its import, which capsys misses)."""
    import logging

    from ernie_distill.log import logger

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def tiny_teacher_init(tmp_path_factory):
    from ernie_distill.models.random_teacher import make_random_teacher

    return make_random_teacher(fixture_texts(), str(tmp_path_factory.mktemp("tiny-init")), hidden_size=32)


def glue_args(model_dir, output_dir, *extra):
    return ["--model_type", "ernie-gram", "--model_name_or_path", model_dir, "--task_name", "ChnSentiCorp",
            "--data_dir", FIXTURE_DIR, "--max_seq_length", "32", "--batch_size", "16", "--learning_rate", "3e-3",
            "--logging_steps", "5", "--save_steps", "15", "--output_dir", output_dir, "--device", "cpu", *extra]


@pytest.fixture(scope="session")
def trained_teacher(tiny_teacher_init, tmp_path_factory):
    """run_glue.py's output dir after 6 epochs (90 steps) on the easy fixture, evaluated at its last step: the
    best model is then a confident one, whose logits a student can follow."""
    import run_glue

    output_dir = str(tmp_path_factory.mktemp("teacher"))
    run_glue.main(glue_args(tiny_teacher_init, output_dir, "--num_train_epochs", "6", "--save_steps", "90"))
    return output_dir


@pytest.fixture(scope="session")
def trained_student(tmp_path_factory):
    """distill_lstm.py's output dir: a tiny student on hard labels."""
    import distill_lstm

    output_dir = str(tmp_path_factory.mktemp("student"))
    distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", output_dir, "--num_epochs", "6", *TINY_STUDENT])
    return output_dir


def export(model_dir, output_path, *extra):
    import export_model

    export_model.main(["--model_dir", model_dir, "--output_path", output_path, *extra])
    return output_path


@pytest.fixture(scope="session")
def exported_student(trained_student, tmp_path_factory):
    """The tiny student exported for Paddle Inference and ONNX Runtime."""
    return export(os.path.join(trained_student, "best_model"), str(tmp_path_factory.mktemp("export") / "student"),
                  "--onnx")


@pytest.fixture(scope="session")
def exported_teacher(trained_teacher, tmp_path_factory):
    return export(os.path.join(trained_teacher, "best_model"), str(tmp_path_factory.mktemp("export") / "teacher"))


@pytest.fixture(scope="session")
def corpus():
    """jieba words of a few reviews and of the easy fixture's training texts."""
    from ernie_distill.models.vocab import tokenize

    return [tokenize(t) for t in SENTENCES + fixture_texts()]


def exchange(port, data, timeout=5):
    """Send raw bytes to a loopback port on a new connection and read until the server closes it: (received bytes,
    seconds waited)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        began, received = time.monotonic(), b""
        while chunk := connection.recv(65536):
            received += chunk
        return received, time.monotonic() - began
