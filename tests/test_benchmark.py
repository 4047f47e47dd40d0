"""scripts/benchmark.py: labels from the export's manifest, and bad input as one `error:` line."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURE_DIR, ROOT


def relabelled_export(exported_student, tmp_path):
    """The student's export with its labels renamed to "neg"/"pos", and the fixture's dev set written that way."""
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "labels": ["neg", "pos"]}))
    with open(os.path.join(FIXTURE_DIR, "dev.tsv"), encoding="utf-8") as f:
        header, *rows = f.read().splitlines()
    rows = ["\t".join([qid, ["neg", "pos"][int(label)], text]) for qid, label, text in (r.split("\t") for r in rows)]
    (tmp_path / "dev.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(copy), str(tmp_path / "dev.tsv")


def run_benchmark(*args, env=None):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmark.py"), "--serve_clients", "0",
                           "--input_file", os.path.join(FIXTURE_DIR, "dev.tsv"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=env)
    return done.returncode, done.stderr


def test_labels_come_from_the_manifest_and_an_inherited_mplbackend_is_ignored(exported_student, tmp_path):
    model_dir, dev = relabelled_export(exported_student, tmp_path)
    code, err = run_benchmark("--model", f"student={model_dir}", "--input_file", dev, "--output_dir",
                              str(tmp_path / "out"), "--backends", "onnx", "--max_texts", "20", "--latency_texts", "4",
                              env={**os.environ, "MPLBACKEND": "a-backend-this-matplotlib-cannot-import"})
    assert code == 0, err
    (row,) = json.loads((tmp_path / "out" / "benchmark.json").read_text())["rows"]
    assert row["texts"] == 20 and row["accuracy"] is not None
    assert (tmp_path / "out" / "benchmark.md").read_text().startswith("Texts: 20 from")
    assert (tmp_path / "out" / "benchmark.png").stat().st_size > 0


@pytest.mark.parametrize("model, error", [
    ("student", "error: argument --model: expected NAME=DIR, got 'student'"),
    ("student=no/such/export", "error: no/such/export does not exist"),
])
def test_bad_models_are_one_error_line(model, error):
    code, err = run_benchmark("--model", model)
    assert code == 2 and err.startswith(error) and err.count("\n") == 1


def test_a_damaged_export_is_one_error_line_from_its_worker(exported_student, tmp_path):
    shutil.copytree(exported_student, tmp_path / "export")
    onnx = tmp_path / "export" / "inference.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    code, err = run_benchmark("--model", f"student={tmp_path / 'export'}", "--backends", "onnx",
                              "--output_dir", str(tmp_path / "out"))
    assert code == 2 and err.splitlines()[-1] == (f"error: {onnx} does not match its SHA-256 in manifest.json: the "
                                                  "file was changed or damaged after export; re-export with "
                                                  "export_model.py")


def test_serving_is_measured_for_each_worker_count_with_keep_alive_clients(exported_student, tmp_path):
    code, err = run_benchmark("--model", f"student={exported_student}", "--backends", "onnx", "--max_texts", "20",
                              "--latency_texts", "2", "--serve_clients", "3", "--serve_workers", "1,2",
                              "--serve_requests", "30", "--output_dir", str(tmp_path / "out"))
    assert code == 0, err
    serving = json.loads((tmp_path / "out" / "benchmark.json").read_text())["serving"]
    assert [(s["workers"], s["clients"], s["requests"]) for s in serving] == [(1, 3, 30), (2, 3, 30)]
    assert all(s["sentences_per_s"] > 0 and s["latency_ms"]["p50"] > 0 for s in serving)
    assert "| 2 | 3 | 30 |" in (tmp_path / "out" / "benchmark.md").read_text()


def test_serving_figures_are_those_of_the_timed_requests(monkeypatch):
    """measure_serving's sentences/s and latency percentiles, from the load generator's wall time and latencies."""
    import contextlib

    import benchmark

    started, posted = [], []
    monkeypatch.setattr(benchmark, "running_server",
                        lambda *args: started.append(args) or contextlib.nullcontext("http://127.0.0.1:1"))

    def post_concurrently(url, payloads, clients):
        posted.append((url, [p["texts"] for p in payloads], clients))
        return 2.5, [i / 1000 for i in range(101)]  # 0, 1, ..., 100 ms

    monkeypatch.setattr(benchmark, "post_concurrently", post_concurrently)
    row = benchmark.measure_serving("export", "onnx", ["a", "b", "c"], 2, 101, 4, 3)
    assert row == {"backend": "onnx", "clients": 2, "workers": 3, "requests": 101, "texts_per_request": 1,
                   "sentences_per_s": 40.4, "latency_ms": {"p50": 50.0, "p90": 90.0, "p99": 99.0}}
    assert started == [("export", "--backend", "onnx", "--cpu_threads", "4", "--workers", "3")]
    warm_up, timed = posted  # a warm-up of 4 requests a client, then the 101 timed, one text each in turn
    assert warm_up == ("http://127.0.0.1:1/predict", [[t] for t in "abcabcab"], 2)
    assert timed[0] == warm_up[0] and timed[1] == [[["a", "b", "c"][i % 3]] for i in range(101)] and timed[2] == 2
