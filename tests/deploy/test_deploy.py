import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import paddle
import pytest

import export_model
import predict
from conftest import FIXTURE_DIR, ROOT, TINY_STUDENT, export
from ernie_distill.cli import run_cli
from ernie_distill.data.reading import load_task, read_tsv
from ernie_distill.errors import InputError
from ernie_distill.deploy.inference import Predictor, choose_backend, in_order
from ernie_distill.deploy.manifest import ExportError, Manifest, sha256_of
from ernie_distill.models.student import load_student
from ernie_distill.models.teacher import load_teacher, predict_logits

# short and long rows in one batch: padding bugs only show then
MIXED = ["好", "房间很干净，服务也好", "酒店真的糟糕，住了两晚，前台冷漠，早餐难吃，再也不来了" * 3, "价格真的棒", "差"]


def read(path):
    with open(path) as f:
        return json.load(f)


def test_student_export_is_self_contained(exported_student):
    files = sorted(os.listdir(exported_student))
    assert files == ["inference.json", "inference.npz", "inference.onnx", "inference.pdiparams", "inputs.json",
                     "manifest.json", "ngrams.txt", "vocab.txt"]
    manifest = read(os.path.join(exported_student, "manifest.json"))
    assert manifest["kind"] == "student" and manifest["inputs"] == ["input_ids", "seq_len", "ngram_ids"]
    assert manifest["label_names"] == ["negative", "positive"] and manifest["max_seq_length"] == 200
    for name, digest in manifest["files"].items():
        assert sha256_of(os.path.join(exported_student, name)) == digest
    assert max(manifest["parity"].values()) <= 1e-5


def assert_every_student_backend_agrees_with_dygraph(student_dir, exported):
    model, inputs, _ = load_student(student_dir)
    encoded = [inputs.encode(t) for t in MIXED]

    def run(rows):
        return model(**{k: paddle.to_tensor(v) for k, v in inputs.batch(rows).items()}).numpy()

    with paddle.no_grad():  # each row alone, unpadded: the reference
        alone = np.concatenate([run([row]) for row in encoded])
        padded = run(encoded)
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    for backend in ("paddle", "onnx", "numba"):
        np.testing.assert_allclose(Predictor(exported, backend, batch_size=8).logits(MIXED), alone, atol=1e-5)


@pytest.mark.parametrize("backend", ["onnx", "numba"])
def test_batches_on_several_model_threads_and_windows_give_the_logits_of_one_thread(exported_student, backend):
    texts = [f"{MIXED[i % len(MIXED)]}{'好' * (i % 7)}" for i in range(150)]  # 150 texts: windows of 8 x 4, 16 x 4
    one_thread = Predictor(exported_student, backend, cpu_threads=1, batch_size=4)
    parallel = Predictor(exported_student, backend, cpu_threads=2, batch_size=4)
    assert (one_thread.model_threads, parallel.model_threads) == (1, 2)
    np.testing.assert_allclose(parallel.logits(texts), one_thread.logits(texts), atol=1e-6)
    np.testing.assert_allclose(parallel.logits(texts[7:8]), one_thread.logits(texts)[7:8], atol=1e-6)


def test_an_interrupted_call_runs_none_of_the_windows_left():
    gate, ran = threading.Event(), []

    def window(i):
        if i == 1:
            gate.wait(10)  # the rest queue behind it
        ran.append(i)
        return i

    def interrupt(_):
        raise KeyboardInterrupt  # Ctrl-C while the first window's logits are taken

    with ThreadPoolExecutor(1) as pool:
        futures = [pool.submit(window, i) for i in range(5)]
        with pytest.raises(KeyboardInterrupt):
            in_order(futures, interrupt)
        gate.set()
    assert set(ran) <= {0, 1} and all(future.cancelled() for future in futures[2:])  # (1 may have started)


def test_student_dygraph_paddle_inference_and_onnx_agree_on_a_mixed_length_batch(trained_student, exported_student):
    assert set(load_student(os.path.join(trained_student, "best_model"))[1].input_names) == {
        "input_ids", "seq_len", "ngram_ids"}
    assert_every_student_backend_agrees_with_dygraph(os.path.join(trained_student, "best_model"), exported_student)


def test_word_level_student_of_tang_et_al_exports_with_parity(tmp_path):
    import distill_lstm

    distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "words"), "--tokens", "words",
                       "--ngram_max", "0", "--num_epochs", "1", *TINY_STUDENT])
    best = str(tmp_path / "words" / "best_model")
    exported = export(best, str(tmp_path / "export"), "--onnx")
    assert read(os.path.join(exported, "manifest.json"))["inputs"] == ["input_ids", "seq_len"]
    assert_every_student_backend_agrees_with_dygraph(best, exported)


def test_without_paddle2onnx_python_3_13_exports_the_rest_and_says_so(trained_student, tmp_path, monkeypatch, caplog):
    import importlib.util

    from ernie_distill.deploy import export as export_module
    from ernie_distill.log import logger

    monkeypatch.setattr(logger, "propagate", True)  # into caplog
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "paddle2onnx" else real_find_spec(name, *a))
    model_dir = os.path.join(trained_student, "best_model")
    with pytest.raises(InputError, match="need paddle2onnx, which is not installed: pip install"):
        export(model_dir, str(tmp_path / "here"), "--quantize", "int8")
    assert not (tmp_path / "here").exists()
    monkeypatch.setattr(export_module, "NO_PADDLE2ONNX_FROM", sys.version_info[:2])  # as on 3.13
    out = export(model_dir, str(tmp_path / "py313"), "--quantize", "int8")
    assert "no ONNX export on Python 3.%d: paddle2onnx has no build for it" % sys.version_info[1] in caplog.text
    files = set(Manifest.read(out).files)
    assert "inference.npz" in files and "inference.pdiparams" in files and not {"inference.onnx",
                                                                                "inference.int8.onnx"} & files


def test_teacher_export_matches_dygraph(trained_teacher, exported_teacher):
    files = set(os.listdir(exported_teacher))
    assert {"inference.json", "inference.pdiparams", "manifest.json", "vocab.txt"} <= files
    assert not [f for f in files if f.endswith(".pdparams")]  # deployment holds no pickle
    model, tokenizer, _ = load_teacher(os.path.join(trained_teacher, "best_model"))
    alone = np.concatenate([predict_logits(model, tokenizer, [t], 32) for t in MIXED])
    exported = Predictor(exported_teacher, "paddle", batch_size=8, max_seq_length=32).logits(MIXED)
    np.testing.assert_allclose(exported, alone, atol=1e-5)


def test_a_plain_save_pretrained_teacher_is_exported_with_the_tasks_or_its_configs_labels(trained_teacher, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(os.path.join(trained_teacher, "best_model"), plain)
    os.remove(plain / "teacher_info.json")  # what PaddleNLP's save_pretrained alone writes
    export(str(plain), str(tmp_path / "with-task"), "--task_name", "ChnSentiCorp")
    export(str(plain), str(tmp_path / "from-config"))
    with_task, from_config = (Manifest.read(str(tmp_path / name)) for name in ("with-task", "from-config"))
    assert (with_task.kind, with_task.model_type, with_task.labels) == ("teacher", "ernie-gram", ["0", "1"])
    assert with_task.label_names == ["negative", "positive"] and with_task.max_seq_length == 128
    assert from_config.labels == ["0", "1"] and len(from_config.label_names) == 2
    logits = Predictor(str(tmp_path / "with-task"), max_seq_length=32).logits(MIXED)
    np.testing.assert_allclose(logits, Predictor(str(tmp_path / "from-config"), max_seq_length=32).logits(MIXED))


def run_predict(capsys, *args):
    code = predict.main(list(args))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_predict_texts_give_taskflow_style_json(exported_student, capsys):
    code, rows, _ = run_predict(capsys, "--model_dir", exported_student, "--text", "房间很干净", "--text", "太差了")
    assert code == 0 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    logits = Predictor(exported_student).logits(["房间很干净", "太差了"])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for row, p in zip(rows, probabilities):  # the label is the argmax, the score its softmax probability
        assert set(row) == {"text", "label", "score"}
        assert row["label"] == ["negative", "positive"][p.argmax()] and row["score"] == pytest.approx(p.max(), abs=1e-6)


def test_the_python_api_and_the_installed_command_answer_as_predict_py(exported_student, capsys, tmp_path):
    """`from ernie_distill import Predictor` (Taskflow-style: a text or a list) and ernie-distill-predict, run from
    outside the checkout, give predict.py's rows."""
    import ernie_distill

    texts = ["房间很干净", "太差了"]
    _, rows, _ = run_predict(capsys, "--model_dir", exported_student, "--text", texts[0], "--text", texts[1])
    predictor = ernie_distill.Predictor(exported_student)
    assert predictor(texts) == rows and predictor(texts[1]) == rows[1:]
    command = os.path.join(os.path.dirname(sys.executable), "ernie-distill-predict")
    done = subprocess.run([command, "--model_dir", exported_student, "--text", texts[0], "--text", texts[1]],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and [json.loads(line) for line in done.stdout.splitlines()] == rows


def test_predict_labelled_tsv_reports_accuracy(exported_student, exported_teacher, capsys):
    dev = os.path.join(FIXTURE_DIR, "dev.tsv")
    for model_dir in (exported_student, exported_teacher):
        code, rows, err = run_predict(capsys, "--model_dir", model_dir, "--input_file", dev)
        assert code == 0 and len(rows) == 60
        accuracy = float(err.split("accuracy ")[1].split()[0])
        assert accuracy > 0.7


def test_predict_stdin_and_the_student_backends(exported_student):
    texts = "\n".join(MIXED) + "\n"
    outputs = {}
    for backend in ("paddle", "onnx", "numba"):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir", exported_student,
                               "--backend", backend], input=texts.encode(), capture_output=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        outputs[backend] = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["text"] for r in outputs["paddle"]] == MIXED
    for backend in ("onnx", "numba"):
        assert [r["label"] for r in outputs["paddle"]] == [r["label"] for r in outputs[backend]]
        np.testing.assert_allclose([r["score"] for r in outputs["paddle"]], [r["score"] for r in outputs[backend]],
                                   atol=1e-5)


def test_bad_lines_are_reported_and_good_lines_still_predicted(exported_student, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    lines = ["房间很干净".encode(), b"", b"   ", "差评".encode() + b"\xff", "太差了".encode()]
    path.write_bytes(b"\n".join(lines))
    code, rows, err = run_predict(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == 1 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    assert f"{path}:2: empty or whitespace-only text" in err and f"{path}:3: empty" in err
    assert f"{path}:4: not valid UTF-8" in err


@pytest.mark.parametrize("model", ["teacher", "student"])
def test_long_texts_are_truncated_to_the_model_input_like_taskflow(exported_student, exported_teacher, capsys, model):
    """A text over the model's input is cut to its first tokens, as docs/deploy.md says: its logits are those of its
    head, whatever follows (here a review of the opposite sentiment)."""
    model_dir = {"teacher": exported_teacher, "student": exported_student}[model]
    head, tail = "房间很干净，服务也好。" * 150, "前台态度冷漠，早餐难吃。" * 150
    review = head + tail  # 3,450 characters: over the server's default request limit
    code, rows, _ = run_predict(capsys, "--model_dir", model_dir, "--logits", "--text", review, "--text", head,
                                "--text", tail + head, "--text", "太差了")
    assert code == 0 and [r["text"] for r in rows] == [review, head, tail + head, "太差了"]
    assert not np.allclose(rows[1]["logits"], rows[2]["logits"], atol=1e-3)  # the two halves do differ
    np.testing.assert_allclose(rows[0]["logits"], rows[1]["logits"], atol=1e-5)  # only the head counts


def test_tsv_header_is_case_insensitive(exported_student, tmp_path, capsys):
    path = tmp_path / "dev.tsv"
    path.write_text("Label\tText_A\n1\t房间很干净\n0\t太差了\n", encoding="utf-8")
    code, rows, err = run_predict(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == 0 and [r["text"] for r in rows] == ["房间很干净", "太差了"] and "(2/2 labelled rows)" in err


def test_bad_rows_of_a_labelled_tsv_are_reported(exported_student, tmp_path, capsys):
    path = tmp_path / "dev.tsv"
    path.write_text("label\ttext_a\n1\t房间很干净\n7\t还行\n0\t\n0\t太差了\n")
    code, rows, err = run_predict(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == 1 and [r["text"] for r in rows] == ["房间很干净", "太差了"]
    assert f"{path}:3: label '7'" in err and f"{path}:4: empty text_a" in err and "accuracy" in err
    done = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir", exported_student,
                           "--input_file", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stderr.count(f"{path}:3: label '7'") == 1  # each bad row is reported once, logs included


def test_directory_that_is_not_an_export_gets_one_clear_line(trained_student):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), "--model_dir",
                           os.path.join(trained_student, "best_model"), "--text", "好"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is not an exported model" in done.stderr and "export_model.py" in done.stderr


def edit_manifest(model_dir, **changes):
    manifest = read(os.path.join(model_dir, "manifest.json"))
    with open(os.path.join(model_dir, "manifest.json"), "w") as f:
        json.dump({**manifest, **changes}, f)


@pytest.mark.parametrize("change, message", [
    ({"format_version": 99}, "newer version of this project"),
    ({"paddle_version": "9.0.0"}, "exported by Paddle 9.0.0"),
])
def test_export_from_a_newer_version_is_refused(exported_student, tmp_path, change, message):
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    edit_manifest(copy, **change)
    with pytest.raises(ExportError, match=message):
        Predictor(str(copy), "paddle")  # (the compiled kernel does not read the Paddle program)


def test_onnx_backend_without_onnx_file(exported_teacher):
    with pytest.raises(ExportError, match="--onnx"):
        Predictor(exported_teacher, "onnx")


def test_numba_backend_runs_students_only_and_needs_their_kernel_file(exported_student, exported_teacher, tmp_path):
    with pytest.raises(InputError, match="runs students only, and .* is a teacher"):
        Predictor(exported_teacher, "numba")
    copy = tmp_path / "export"  # an export of an earlier version: no kernel file
    shutil.copytree(exported_student, copy)
    os.remove(copy / "inference.npz")
    manifest = read(copy / "manifest.json")
    del manifest["files"]["inference.npz"]
    edit_manifest(copy, files=manifest["files"])
    with pytest.raises(ExportError, match="has no inference.npz.*re-export"):
        Predictor(str(copy), "numba")
    assert Predictor(str(copy), "onnx").predict(["好"])[0]["label"] in ("negative", "positive")


def test_the_auto_backend_picks_the_fastest_backend_the_export_and_device_have(exported_student, exported_teacher,
                                                                               tmp_path):
    assert Predictor(exported_student).backend == "numba" and Predictor(exported_teacher).backend == "paddle"
    copy = tmp_path / "export"  # no kernel file, then no float ONNX model either
    shutil.copytree(exported_student, copy)
    files = read(copy / "manifest.json")["files"]
    del files["inference.npz"]
    edit_manifest(copy, files=files)
    assert Predictor(str(copy)).backend == "onnx"
    del files["inference.onnx"]
    edit_manifest(copy, files=files)
    assert Predictor(str(copy)).backend == "paddle"
    student = Manifest.read(exported_student)
    assert choose_backend(student, "gpu") == "paddle"
    assert choose_backend(dataclasses.replace(student, files={"inference.int8.onnx": "0"}), "cpu") == "onnx-int8"


def flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def swap_two_words(path):
    words = path.read_text(encoding="utf-8").split("\n")
    words[5], words[6] = words[6], words[5]
    path.write_text("\n".join(words), encoding="utf-8")


def truncate_to_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CHANGED = "does not match its SHA-256 in manifest.json: the file was changed or damaged after export"


@pytest.mark.parametrize("name, damage, backend, problem", [
    ("inference.onnx", flip_middle_byte, "onnx", CHANGED),
    ("vocab.txt", swap_two_words, "paddle", CHANGED),
    ("inference.pdiparams", truncate_to_half, "paddle", CHANGED),
    ("inference.onnx", truncate_to_half, "onnx", CHANGED),
    ("inference.npz", flip_middle_byte, "numba", CHANGED),
    ("vocab.txt", os.remove, "onnx", "is missing (listed in manifest.json)"),
])
def test_a_changed_file_is_refused_naming_it(exported_student, tmp_path, capsys, name, damage, backend, problem):
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    damage(copy / name)
    code = run_cli(lambda: predict.main(["--model_dir", str(copy), "--backend", backend, "--text", "好"]))
    assert (code, capsys.readouterr().err) == (2, f"error: {copy / name} {problem}; re-export with export_model.py\n")


def test_only_the_files_of_the_chosen_backend_are_checked(exported_student, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    flip_middle_byte(copy / "inference.onnx")
    assert Predictor(str(copy), "paddle").predict(["好"])[0]["label"] in ("negative", "positive")


@pytest.mark.parametrize("edit, message", [
    (lambda manifest: manifest.pop("files"), "missing key 'files'"),
    (lambda manifest: manifest.update(files=None), "'files' is None, not dict"),
    (lambda manifest: manifest.update(labels=["0", "1", "2"]), "3 labels but 2 label_names"),
    (lambda manifest: manifest["files"].pop("inference.pdiparams"),
     "inference.pdiparams is not listed in manifest.json, so it cannot be verified"),
])
def test_a_malformed_manifest_is_one_clear_error(exported_student, tmp_path, edit, message):
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    manifest = read(copy / "manifest.json")
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match=f"{message}; re-export with export_model.py"):
        Predictor(str(copy), "paddle")


def test_a_vocabulary_that_does_not_fit_the_embedding_is_refused(exported_student, tmp_path):
    """Even with the manifest's hash updated to match, as a hand-edited export would be."""
    copy = tmp_path / "export"
    shutil.copytree(exported_student, copy)
    vocab = copy / "vocab.txt"
    vocab.write_text("\n".join(vocab.read_text(encoding="utf-8").split("\n")[:10]) + "\n", encoding="utf-8")
    manifest = read(copy / "manifest.json")
    edit_manifest(copy, files={**manifest["files"], "vocab.txt": sha256_of(vocab)})
    with pytest.raises(ExportError, match=f"has 10 tokens but the model's embedding has {manifest['vocab_size']} rows"):
        Predictor(str(copy))


def test_format_1_manifests_are_still_read(exported_teacher, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(exported_teacher, copy)
    manifest = read(copy / "manifest.json")
    for key in ("vocab_size", "max_input_length"):
        del manifest[key]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    assert Predictor(str(copy)).predict(["好"])[0]["label"] in ("negative", "positive")
    with pytest.raises(InputError, match="over the 32 tokens"):  # a format-1 teacher is held to its export length
        Predictor(str(copy), max_seq_length=64)


def test_max_seq_length_over_the_teacher_position_table_is_refused(exported_teacher, trained_teacher, tmp_path,
                                                                   capsys):
    assert read(os.path.join(exported_teacher, "manifest.json"))["max_input_length"] == 130
    code = run_cli(lambda: predict.main(["--model_dir", exported_teacher, "--max_seq_length", "1000", "--text", "好"]))
    err = capsys.readouterr().err
    assert code == 2 and err == "error: --max_seq_length 1000 is over the 130 tokens this teacher accepts; use at " \
                                "most 130\n"
    with pytest.raises(InputError, match="over the 130 positions"):
        export(os.path.join(trained_teacher, "best_model"), str(tmp_path / "export"), "--max_seq_length", "1000")
    assert not os.path.exists(tmp_path / "export")


@pytest.mark.parametrize("main, args, error", [
    (predict.main, ["--batch_size", "0", "--text", "好"], "error: argument --batch_size: must be >= 1, got 0"),
    (predict.main, ["--model_dir", "no/such/export", "--text", "好"],  # (the last --model_dir counts)
     "error: argument --model_dir: no/such/export does not exist"),
    (export_model.main, ["--model_dir", "no/such/best_model", "--output_path", "unused"],
     "error: argument --model_dir: no/such/best_model does not exist"),
    (export_model.main, ["--output_path", "unused", "--opset_version", "22"],  # paddle2onnx would abort the process
     "error: argument --opset_version: must be >= 7 and <= 21, got 22"),
])
def test_bad_flags_are_one_error_line(exported_student, capsys, main, args, error):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model_dir", exported_student, *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith(error)


def snapshot(root):
    """Every path under root with its size and modification time: 'nothing touched' means this is unchanged."""
    return sorted((path, os.path.getsize(os.path.join(path, name)), os.path.getmtime(os.path.join(path, name)))
                  for path, dirs, files in os.walk(root) for name in files + dirs)


@pytest.mark.parametrize("output, message", [
    ("run/best_model", "is --model_dir"),
    ("run", "contains --model_dir"),
    ("run/best_model/export", "is inside --model_dir"),
    ("run/notes.txt", "is a file"),
    ("elsewhere", "is a non-empty directory that is not an earlier export"),
])
def test_export_refuses_an_output_path_that_is_not_an_earlier_export(trained_student, tmp_path, output, message):
    shutil.copytree(os.path.join(trained_student, "best_model"), tmp_path / "run" / "best_model")
    (tmp_path / "run" / "notes.txt").write_text("keep me")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "data.tsv").write_text("keep me too")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=f"--output_path {tmp_path / output} {message}"):
        export(str(tmp_path / "run" / "best_model"), str(tmp_path / output))
    assert snapshot(tmp_path) == before


def test_export_replaces_an_earlier_export_or_fills_an_empty_directory(trained_student, exported_student, tmp_path):
    (tmp_path / "empty").mkdir()
    export(os.path.join(trained_student, "best_model"), str(tmp_path / "empty"))
    shutil.copytree(exported_student, tmp_path / "earlier")
    (tmp_path / "earlier" / "stale.txt").write_text("from an older export")
    export(os.path.join(trained_student, "best_model"), str(tmp_path / "earlier"))
    assert sorted(os.listdir(tmp_path / "earlier")) == sorted(os.listdir(tmp_path / "empty")) == [
        "inference.json", "inference.npz", "inference.pdiparams", "inputs.json", "manifest.json", "ngrams.txt",
        "vocab.txt"]


@pytest.mark.parametrize("mount_point", ["tmpfs", "busy"], indirect=True)
def test_export_into_a_volume_replaces_its_contents_and_a_failed_export_keeps_the_old_one(trained_student,
                                                                                          mount_point, monkeypatch):
    (mount_point / "lost+found").mkdir()  # an empty ext4 volume: still an empty directory to export into
    export(os.path.join(trained_student, "best_model"), str(mount_point))
    before = snapshot(mount_point)
    monkeypatch.setattr("ernie_distill.deploy.export.check_parity", lambda *_: (_ for _ in ()).throw(
        RuntimeError("exported model disagrees")))
    with pytest.raises(RuntimeError, match="disagrees"):
        export(os.path.join(trained_student, "best_model"), str(mount_point), "--onnx")
    assert snapshot(mount_point) == before and "lost+found" in os.listdir(mount_point)
    assert Predictor(str(mount_point)).logits(MIXED).shape == (len(MIXED), 2)


@pytest.fixture(scope="module")
def exported_int8(trained_student, tmp_path_factory):
    return export(os.path.join(trained_student, "best_model"), str(tmp_path_factory.mktemp("int8") / "student"),
                  "--quantize", "int8")


def test_int8_export_quantizes_the_lstm_and_keeps_the_predictions(exported_int8):
    import onnx

    ops = {node.op_type for node in onnx.load(os.path.join(exported_int8, "inference.int8.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops  # the LSTM itself is int8, not left in float
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops  # so are the linear layers
    texts = [e.text for e in read_tsv(os.path.join(FIXTURE_DIR, "dev.tsv"), load_task("chnsenticorp"))[0]]
    float32 = Predictor(exported_int8, "onnx").predict(texts)
    int8 = Predictor(exported_int8, "onnx-int8").predict(texts)
    agree = np.mean([a["label"] == b["label"] for a, b in zip(float32, int8)])
    assert agree >= 0.95, agree
    assert max(abs(a["score"] - b["score"]) for a, b in zip(float32, int8)) < 0.1


def test_only_control_characters_are_no_text_whatever_unicode_version_python_knows():
    from ernie_distill.deploy.inference import text_problem

    # emoji newer than Python 3.10's Unicode tables, private-use characters: text, on every Python
    assert [text_problem(t) for t in ["🫠", "🥹", "\ue000", "好\x00"]] == [None] * 4
    no_text = "no text, only control characters (such as NUL)"
    assert [text_problem(t) for t in ["\x00", "\u200b\x07", " \x1b "]] == [no_text] * 3
    assert text_problem("\ud800").startswith("not valid Unicode: lone surrogate")
    assert text_problem(3) == "expected a string, got int"


def test_the_shortcut_for_printable_texts_gives_the_full_checks_answers():
    import random
    import unicodedata

    from ernie_distill.deploy.inference import text_problem

    def full_checks(text, max_chars):  # text_problem before the shortcut
        if not text.strip():
            return "empty or whitespace-only text"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            return f"not valid Unicode: lone surrogate {text[err.start]!r} at character {err.start}"
        if all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text):
            return "no text, only control characters (such as NUL)"
        if max_chars is not None and len(text) > max_chars:
            return f"text has {len(text)} characters, over the limit of {max_chars}"
        return None

    rng = random.Random(0)
    samples = [chr(c) for c in range(0x3000)] + ["".join(chr(rng.choice([rng.randrange(0x110000), 32, 0x597d, 9, 0]))
                                                         for _ in range(rng.randrange(1, 5))) for _ in range(20000)]
    for text in samples:
        for max_chars in (None, 1, 3):
            assert text_problem(text, max_chars) == full_checks(text, max_chars), (text, max_chars)
