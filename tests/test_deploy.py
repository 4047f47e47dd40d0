import json
import os
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest

import predict
from conftest import FIXTURE_DIR, ROOT
from ernie_distill.inference import ExportError, Predictor, sha256_of
from ernie_distill.student import load_student
from ernie_distill.teacher import load_teacher, predict_logits
from ernie_distill.vocab import pad_ids, tokenize

# short and long rows in one batch: padding bugs only show then
MIXED = ["好", "房间很干净，服务也好", "酒店真的糟糕，住了两晚，前台冷漠，早餐难吃，再也不来了" * 3, "价格真的棒", "差"]


def read(path):
    with open(path) as f:
        return json.load(f)


def test_student_export_is_self_contained(exported_student):
    files = sorted(os.listdir(exported_student))
    assert files == ["inference.json", "inference.onnx", "inference.pdiparams", "manifest.json", "vocab.txt"]
    manifest = read(os.path.join(exported_student, "manifest.json"))
    assert manifest["kind"] == "student" and manifest["inputs"] == ["input_ids", "seq_len"]
    assert manifest["label_names"] == ["negative", "positive"] and manifest["max_seq_length"] == 128
    for name, digest in manifest["files"].items():
        assert sha256_of(os.path.join(exported_student, name)) == digest
    assert max(manifest["parity"].values()) <= 1e-5


def test_student_dygraph_paddle_inference_and_onnx_agree_on_a_mixed_length_batch(trained_student, exported_student):
    model, vocab, _ = load_student(os.path.join(trained_student, "best_model"))
    ids = [vocab.encode(tokenize(t), 128) for t in MIXED]
    with paddle.no_grad():  # each row alone, unpadded: the reference
        alone = np.stack([model(*map(paddle.to_tensor, pad_ids([row]))).numpy()[0] for row in ids])
        padded = model(*map(paddle.to_tensor, pad_ids(ids))).numpy()
    inference = Predictor(exported_student, "paddle", batch_size=8).logits(MIXED)
    onnx = Predictor(exported_student, "onnx", batch_size=8).logits(MIXED)
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    np.testing.assert_allclose(inference, alone, atol=1e-5)
    np.testing.assert_allclose(onnx, alone, atol=1e-5)


def test_teacher_export_matches_dygraph(trained_teacher, exported_teacher):
    files = set(os.listdir(exported_teacher))
    assert {"inference.json", "inference.pdiparams", "manifest.json", "vocab.txt"} <= files
    assert not [f for f in files if f.endswith(".pdparams")]  # deployment holds no pickle
    model, tokenizer, _ = load_teacher(os.path.join(trained_teacher, "best_model"))
    alone = np.concatenate([predict_logits(model, tokenizer, [t], 32) for t in MIXED])
    exported = Predictor(exported_teacher, "paddle", batch_size=8, max_seq_length=32).logits(MIXED)
    np.testing.assert_allclose(exported, alone, atol=1e-5)


def run_predict(capsys, *args):
    code = predict.main(list(args))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_predict_texts_give_taskflow_style_json(exported_student, capsys):
    code, rows, _ = run_predict(capsys, "--model_dir", exported_student, "--text", "房间很干净", "--text", "太差了")
    assert code == 0 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    for row in rows:
        assert set(row) == {"text", "label", "score"} and row["label"] in ("negative", "positive")
        assert 0.5 <= row["score"] <= 1.0


def test_predict_labelled_tsv_reports_accuracy(exported_student, exported_teacher, capsys):
    dev = os.path.join(FIXTURE_DIR, "dev.tsv")
    for model_dir in (exported_student, exported_teacher):
        code, rows, err = run_predict(capsys, "--model_dir", model_dir, "--input_file", dev)
        assert code == 0 and len(rows) == 60
        accuracy = float(err.split("accuracy ")[1].split()[0])
        assert accuracy > 0.7


def test_predict_stdin_and_onnx_backend(exported_student):
    texts = "\n".join(MIXED) + "\n"
    outputs = {}
    for backend in ("paddle", "onnx"):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir", exported_student,
                               "--backend", backend], input=texts.encode(), capture_output=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        outputs[backend] = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["text"] for r in outputs["paddle"]] == MIXED
    assert [r["label"] for r in outputs["paddle"]] == [r["label"] for r in outputs["onnx"]]
    np.testing.assert_allclose([r["score"] for r in outputs["paddle"]], [r["score"] for r in outputs["onnx"]],
                               atol=1e-5)


def test_bad_lines_are_reported_and_good_lines_still_predicted(exported_student, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    lines = ["房间很干净".encode(), b"", b"   ", "差评".encode() + b"\xff", ("好" * 30).encode(), "太差了".encode()]
    path.write_bytes(b"\n".join(lines))
    code, rows, err = run_predict(capsys, "--model_dir", exported_student, "--input_file", str(path),
                                  "--max_chars", "20")
    assert code == 1 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    assert f"{path}:2: empty or whitespace-only text" in err and f"{path}:3: empty" in err
    assert f"{path}:4: not valid UTF-8" in err and f"{path}:5: text has 30 characters, over the limit of 20" in err


def test_bad_rows_of_a_labelled_tsv_are_reported(exported_student, tmp_path, capsys):
    path = tmp_path / "dev.tsv"
    path.write_text("label\ttext_a\n1\t房间很干净\n7\t还行\n0\t\n0\t太差了\n")
    code, rows, err = run_predict(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == 1 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    assert f"{path}:3: label '7'" in err and f"{path}:4: empty text_a" in err and "accuracy" in err


def test_directory_that_is_not_an_export_gets_one_clear_line(trained_student):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir",
                           os.path.join(trained_student, "best_model"), "--text", "好"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is not an exported model" in done.stderr and "export_model.py" in done.stderr


@pytest.mark.parametrize("change, message", [
    ({"format_version": 99}, "newer version of this project"),
    ({"paddle_version": "9.0.0"}, "exported by Paddle 9.0.0"),
])
def test_export_from_a_newer_version_is_refused(exported_student, tmp_path, change, message):
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    manifest = read(copy / "manifest.json")
    (copy / "manifest.json").write_text(json.dumps({**manifest, **change}))
    with pytest.raises(ExportError, match=message):
        Predictor(str(copy))


def test_onnx_backend_without_onnx_file(exported_teacher):
    with pytest.raises(ExportError, match="--onnx"):
        Predictor(exported_teacher, "onnx")
