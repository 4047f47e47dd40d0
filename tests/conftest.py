"""Shared fixtures: a tiny random-init ERNIE-Gram, fine-tuned on the easy fixture, and a tiny student.

Everything runs offline on CPU with small configs; the expensive pieces are built once per test session.
"""
import importlib
import os
import socket
import time

import pytest

import ernie_distill  # noqa: F401  (first, before any test module imports Paddle: see ernie_distill/__init__.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "easy")
TINY_STUDENT = ["--embedding_dim", "32", "--hidden_size", "32", "--batch_size", "16", "--learning_rate", "5e-3",
                "--vocab_min_freq", "1", "--device", "cpu"]

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def require(module, extra="test"):
    """`import module` for a test that needs an optional dependency: where it is missing the test is skipped, naming
    the extra that brings it; in CI (CI=true), which installs every extra, it fails instead: a broken install must not
    pass as a skip."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = f"{module} is not installed ({err}): pip install -e '.[{extra}]'"
        if IN_CI:
            pytest.fail(f"{message}; CI installs it", pytrace=False)
        pytest.skip(message)


SENTENCES = ["这家酒店的服务非常好，房间也很干净，下次还会再来", "书的内容一般，纸张质量太差了，送货也很慢",
             "屏幕很漂亮，键盘手感不错，电池续航也很长", "前台服务员态度冷漠，早餐难吃，价格还贵"]


def fixture_texts():
    from ernie_distill.data.reading import load_splits, load_task

    return [e.text for e in load_splits(load_task("chnsenticorp"), FIXTURE_DIR, ("train",))["train"]]


@pytest.fixture
def stdin_bytes():
    """feed(data): standard input (file descriptor 0) is a pipe holding `data` (under 64 KB) until the test ends."""
    saved = os.dup(0)

    def feed(data):
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        os.dup2(read, 0)
        os.close(read)

    yield feed
    os.dup2(saved, 0)
    os.close(saved)


@pytest.fixture(params=["tmpfs", "ismount", "busy"])
def mount_point(request, tmp_path, monkeypatch):
    """tmp_path/volume as a container volume is: a real tmpfs mount (as root; a CI container is root), a directory
    os.path.ismount calls one, or one whose rename fails with EBUSY (a bind mount ismount does not see)."""
    import errno
    import subprocess

    path = tmp_path / "volume"
    path.mkdir()
    if request.param == "tmpfs":
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], capture_output=True, text=True)
        if mounted.returncode:  # (root in a container without CAP_SYS_ADMIN: Docker's default)
            pytest.skip(f"mount refused a tmpfs, as root: {mounted.stderr.strip()} (a privileged container can)")
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(path)], check=True))
    elif request.param == "ismount":
        ismount = os.path.ismount
        monkeypatch.setattr("os.path.ismount", lambda p: os.path.abspath(p) == str(path) or ismount(p))
    else:
        replace = os.replace

        def busy(src, dst):
            if os.path.abspath(src) == str(path):
                raise OSError(errno.EBUSY, "Device or resource busy", src)
            replace(src, dst)

        monkeypatch.setattr("os.replace", busy)
    return path


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


def check_png(path, width=700, height=630):
    """The file decodes as a PNG of the size drawn (of a screen's size, for None), and is a picture (many colours), not
    a blank page."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        if width is None:
            assert 300 <= image.size[0] <= 2500 and 200 <= image.size[1] <= 2500, image.size
        else:
            assert image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    assert (pixels < 128).any() and (pixels > 200).any()  # lines and text on a light background
    assert 5_000 < os.path.getsize(path) < 300_000


def linked_pictures(report_dir):
    """The pictures report.md links, each checked to decode as a PNG of a sensible size: {alt text: path}."""
    import re

    with open(os.path.join(report_dir, "report.md"), encoding="utf-8") as f:
        links = dict(re.findall(r"^!\[([^\]]+)\]\(([^)]+)\)$", f.read(), re.M))
    for path in links.values():
        check_png(os.path.join(report_dir, path), width=None, height=None)
    return links
