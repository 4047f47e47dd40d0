"""scripts/report.py shows pictures: each model's training curves, the teacher-vs-students chart of size, speed and
accuracy, and for more than two classes the confusion matrices; every picture it links is a real PNG."""
import json
import os
import shutil
import subprocess
import sys

import distill_lstm
from conftest import ROOT, TINY_STUDENT, linked_pictures

TOPICS = os.path.join(ROOT, "tests", "fixtures", "topics")


def test_the_report_shows_curves_the_models_chart_and_confusion_matrices(tmp_path):
    out = tmp_path / "run"
    metrics = distill_lstm.main(["--data_dir", TOPICS, "--task_name", "topics", "--output_dir",
                                 str(out / "student-hard"), "--num_epochs", "2", *TINY_STUDENT])
    assert len(metrics["dev_confusion"]) == 3 and sum(map(sum, metrics["dev_confusion"])) == 30  # dev's 30 texts
    # a stand-in teacher: the student's own results, files and curves, as run_glue.py leaves them in OUTPUT_DIR
    (out / "metrics.json").write_text(json.dumps({**metrics, "kind": "teacher", "dev_accuracy": 0.9, "args": {}}))
    shutil.copy(out / "student-hard" / "curves.png", out / "curves.png")
    (out / "benchmark").mkdir()
    row = {"batch1_ms": {"p50": 1.0, "p99": 2.0}, "backend": "onnx", "kind": "student"}
    rows = [{**row, "name": "teacher", "kind": "teacher", "size_mb": 400.0, "batch32_sentences_per_s": 20.0},
            {**row, "name": "student-hard", "size_mb": 3.5, "batch32_sentences_per_s": 2500.0}]
    (out / "benchmark" / "benchmark.json").write_text(json.dumps(
        {"rows": rows, "serving": [], "settings": {"cpu_threads": 2, "input_file": os.path.join(TOPICS, "dev.tsv")}}))
    (out / "benchmark" / "benchmark.md").write_text("(the benchmark's table)\n")
    shutil.copy(out / "curves.png", out / "benchmark" / "benchmark.png")  # (a picture benchmark.py would draw)

    done = subprocess.run([sys.executable, "scripts/report.py", "--output_dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    pictures = linked_pictures(str(out))
    assert pictures == {"benchmark": "benchmark/benchmark.png", "size, speed and accuracy": "report/models.png",
                        "confusion matrices": "report/confusion.png", "teacher: training curves": "curves.png",
                        "student-hard: training curves": "student-hard/curves.png"}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Classes: 1 = 体育, 2 = 财经, 3 = 科技" in report or "Classes:" not in report  # (without a Chinese font)
