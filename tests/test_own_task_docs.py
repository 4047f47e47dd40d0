"""docs/own-task.md's walk-through, run command by command as printed, on the example task that ships in examples/."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from conftest import ROOT

PAGE = os.path.join(ROOT, "docs", "own-task.md")
EXAMPLE = os.path.join(ROOT, "examples", "support_tickets")


def fenced_commands(path):
    """The commands of a page's ```bash blocks, continuation lines joined, comments dropped."""
    commands, block = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                block = [] if block is None and line.strip() == "```bash" else None
                continue
            if block is not None:
                line = line.split("  #")[0].rstrip()
                if commands and commands[-1].endswith("\\"):
                    commands[-1] = commands[-1][:-1].rstrip() + " " + line.strip()
                elif line.strip():
                    commands.append(line.strip())
    return commands


def test_the_example_is_a_few_hundred_rows_of_three_named_classes():
    with open(os.path.join(EXAMPLE, "labels.txt"), encoding="utf-8") as f:
        labels = f.read().split()
    assert labels == ["物流", "质量", "退款"]
    for name, rows in (("train.tsv", 300), ("dev.tsv", 120)):
        with open(os.path.join(EXAMPLE, name), encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert lines[0] == "label\ttext_a" and len(lines) == rows + 1
        assert {line.split("\t")[0] for line in lines[1:]} == set(labels)
    assert "Source and licence" in open(os.path.join(EXAMPLE, "README.md"), encoding="utf-8").read()


def wait_for(url, server, timeout=120):
    started = time.time()
    while time.time() - started < timeout:
        assert server.poll() is None, "serve.py exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_the_walk_through_runs_as_printed(tmp_path):
    """In a directory that looks like the checkout (its code and examples linked in), so that tmp/ is the test's."""
    for name in ("run_glue.py", "distill_lstm.py", "export_model.py", "predict.py", "serve.py", "scripts",
                 "ernie_distill", "examples", "pyproject.toml"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "PYTHONPATH": ROOT}
    commands = fenced_commands(PAGE)
    assert any(c.startswith("python serve.py") for c in commands) and any(c.startswith("curl") for c in commands)
    server = None
    try:
        for command in commands:
            if command.startswith("python serve.py"):
                port = re.search(r"--port (\d+)", command).group(1)
                server = subprocess.Popen(command, shell=True, cwd=tmp_path, env=env, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_for(f"http://127.0.0.1:{port}/health", server)
                continue
            done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
            assert "usually needs more" not in done.stdout + done.stderr, command  # no short-run warning: flags enough
            if command.startswith(("python predict.py", "curl")):
                answers = [json.loads(line) for line in done.stdout.splitlines()]
                results = answers[0]["results"] if command.startswith("curl") else answers
                assert results and all(r["label"] in ("物流", "质量", "退款") for r in results), done.stdout
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    report = (tmp_path / "tmp" / "tickets" / "report.md").read_text(encoding="utf-8")
    assert "退款" in report and "untrained" in report.lower()

