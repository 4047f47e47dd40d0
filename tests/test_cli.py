"""Flags are range-checked at parse time, for every script, with one `error:` line and exit status 2."""
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

import distill_lstm
import run_glue
from conftest import ROOT
from ernie_distill.cli import run_cli

GLUE = ["--model_type", "ernie-gram", "--model_name_or_path", "x", "--output_dir", "o"]
STUDENT = ["--output_dir", "o"]


@pytest.mark.parametrize("parse, argv, message", [
    (run_glue.parse_args, GLUE + ["--batch_size", "0"], "--batch_size: must be >= 1, got 0"),
    (run_glue.parse_args, GLUE + ["--batch_size", "-4"], "--batch_size: must be >= 1, got -4"),
    (run_glue.parse_args, GLUE + ["--learning_rate", "-1"], "--learning_rate: must be > 0, got -1"),
    (run_glue.parse_args, GLUE + ["--learning_rate", "nan"], "--learning_rate: expected a finite number, got 'nan'"),
    (run_glue.parse_args, GLUE + ["--logging_steps", "0"], "--logging_steps: must be >= 1"),
    (run_glue.parse_args, GLUE + ["--num_train_epochs", "0"], "--num_train_epochs: must be >= 1"),
    (run_glue.parse_args, GLUE + ["--max_seq_length", "2"], "--max_seq_length: must be >= 3 and <= 512, got 2"),
    (run_glue.parse_args, GLUE + ["--max_seq_length", "5000"], "--max_seq_length: must be >= 3 and <= 512"),
    (run_glue.parse_args, GLUE + ["--lr", "1.0"], "unrecognized arguments: --lr 1.0"),
    (run_glue.parse_args, GLUE + ["--device", "cpu", "--use_amp"], "--use_amp runs on a GPU only"),
    (run_glue.parse_args, GLUE + ["--device", "cpu", "--use_amp", "True"], "--use_amp runs on a GPU only"),
    (run_glue.parse_args, GLUE + ["--use_amp", "maybe"], "--use_amp: expected true or false, got 'maybe'"),
    (distill_lstm.parse_args, STUDENT + ["--batch_size", "0"], "--batch_size: must be >= 1"),
    (distill_lstm.parse_args, STUDENT + ["--num_epochs", "0"], "--num_epochs: must be >= 1"),
    (distill_lstm.parse_args, STUDENT + ["--hidden_size", "0"], "--hidden_size: must be >= 1"),
    (distill_lstm.parse_args, STUDENT + ["--dropout", "2"], "--dropout: must be >= 0 and <= 0.95, got 2"),
    (distill_lstm.parse_args, STUDENT + ["--p_mask", "1.5"], "--p_mask: must be >= 0 and <= 1, got 1.5"),
    (distill_lstm.parse_args, STUDENT + ["--p_mask", "0.6", "--p_pos", "0.6"], "is over 1"),
    (distill_lstm.parse_args, STUDENT + ["--alpha", "5"], "--alpha: must be >= 0 and <= 1, got 5"),
    (distill_lstm.parse_args, STUDENT + ["--n_iter", "-3"], "--n_iter: must be >= 0, got -3"),
    (distill_lstm.parse_args, STUDENT + ["--temperature", "0"], "--temperature: must be >= 0.05"),
    (distill_lstm.parse_args, STUDENT + ["--temperature", "-1"], "--temperature: must be >= 0.05"),
    (distill_lstm.parse_args, STUDENT + ["--max_seq_length", "0"], "--max_seq_length: must be >= 3"),
    (distill_lstm.parse_args, STUDENT + ["--device", "tpu"], "--device: choose cpu or gpu, got 'tpu'"),
    (distill_lstm.parse_args, STUDENT + ["--ngram_max", "4"], "--ngram_max: must be >= 0 and <= 3, got 4"),
    (distill_lstm.parse_args, STUDENT + ["--segmenter", "pkuseg"], "--segmenter: invalid choice: 'pkuseg'"),
])
def test_bad_flags_are_one_error_line(parse, argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_gpu_without_cuda_and_output_dir_naming_a_file(tmp_path, capsys):
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        with pytest.raises(SystemExit):
            distill_lstm.parse_args(STUDENT + ["--device", "gpu"])
        assert "this Paddle has no CUDA or sees no GPU: use --device cpu" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    with pytest.raises(SystemExit):
        distill_lstm.parse_args(["--output_dir", str(a_file)])
    assert f"{a_file} is a file; give a directory" in capsys.readouterr().err and a_file.read_text() == "keep me"


@pytest.mark.parametrize("script", ["run_glue.py", "distill_lstm.py", "export_model.py", "predict.py",
                                    "serve.py", "scripts/make_tiny_teacher.py", "scripts/report.py",
                                    "scripts/benchmark.py"])
def test_scripts_print_no_import_time_warnings(script):
    env = {"PATH": "/usr/bin:/bin", "HOME": ROOT}  # no PYTHONWARNINGS, no GLOG_minloglevel from the caller
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ccache" not in done.stderr and "distutils" not in done.stderr, done.stderr


def test_the_device_defaults_to_what_paddle_sees():
    from ernie_distill.cli import default_device

    assert distill_lstm.parse_args(STUDENT).device == run_glue.parse_args(GLUE).device == default_device()


def test_ctrl_c_is_one_line_then_the_interrupt_goes_on_without_a_traceback(capsys, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # (run_cli replaces it; put back after the test)

    def interrupted_training():
        raise KeyboardInterrupt("at step 7; the same command with --resume continues from step 5, the last checkpoint")

    with pytest.raises(KeyboardInterrupt):
        run_cli(interrupted_training)
    assert capsys.readouterr().err == ("interrupted: at step 7; the same command with --resume continues from step 5, "
                                       "the last checkpoint\n")
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert capsys.readouterr().err == ""


def test_ctrl_c_while_predict_py_waits_for_stdin_stops_it_as_python_would_without_a_traceback(exported_student):
    terminal, stdin = pty.openpty()  # a terminal on stdin: predict.py says when it starts reading it
    # preexec_fn: Ctrl-C reaches it even where the tests run as a background job, whose children ignore it
    process = subprocess.Popen([sys.executable, "predict.py", "--model_dir", exported_student], cwd=ROOT, stdin=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert b"backend numba" in process.stderr.readline()  # the log line naming the model and its backend
        assert process.stderr.readline().startswith(b"reading texts from stdin")
        process.send_signal(signal.SIGINT)
        # killed by SIGINT, as Python ends on an interrupt (a shell says 130, and stops a loop running the script)
        assert process.wait(timeout=30) == -signal.SIGINT and process.stderr.read() == b"interrupted\n"
    finally:
        process.kill()
        os.close(terminal)
        os.close(stdin)


def test_a_closed_standard_output_ends_a_command_quietly_with_status_1(exported_student, tmp_path):
    """`predict.py ... | head -1`: the reader goes after a line; the command stops at its next write, without a
    traceback, with the status Python's documentation advises (its note on SIGPIPE)."""
    path = tmp_path / "texts.txt"
    path.write_text("很好\n" * 20000, encoding="utf-8")  # more than a pipe holds: the command is still writing
    process = subprocess.Popen([sys.executable, "predict.py", "--model_dir", exported_student, "--input_file",
                                str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b'{"text": "')
    process.stdout.close()
    assert process.wait(timeout=60) == 1
    assert b"Traceback" not in process.stderr.read() and process.stderr.close() is None


def test_a_broken_pipe_that_is_not_standard_output_is_still_a_bug():
    def broken():
        raise BrokenPipeError(32, "Broken pipe")  # a socket or a child's pipe: stdout (pytest's capture) is fine

    with pytest.raises(BrokenPipeError):
        run_cli(broken)


def handles_sigterm(pid):
    """Whether the process has its own SIGTERM handler (/proc: SigCgt), i.e. ernie_distill.commands is imported."""
    with open(f"/proc/{pid}/status") as f:
        caught = int(next(line for line in f if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & 1 << (signal.SIGTERM - 1))


def test_ctrl_c_while_a_command_imports_its_modules_is_one_line(exported_student):
    process = subprocess.Popen([sys.executable, "serve.py", "--model_dir", exported_student, "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 1.0  # (the imports take seconds)
        while time.time() < deadline and not handles_sigterm(process.pid):
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == -signal.SIGINT and process.stderr.read() == b"interrupted\n"
    finally:
        process.kill()
        process.communicate()


def test_the_commands_can_be_imported_from_a_thread():
    """Their signal handlers are a command's (set in its main thread); a program importing create_app or main from a
    worker thread gets them without Python's 'signal only works in main thread'."""
    code = ("import threading\nfailed = []\n"
            "def load():\n"
            "    try:\n        import ernie_distill.commands.predict\n"
            "    except Exception as err:\n        failed.append(repr(err))\n"
            "thread = threading.Thread(target=load)\nthread.start()\nthread.join()\nprint(failed)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
