"""predict.py --output_file: an atomic output file, parts that a rerun resumes and never mixes with another input's or
model's, the ranks' shares merged in input order, and the same under paddle.distributed.launch with 2 CPU ranks."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, fixture_texts
from ernie_distill.commands import predict
from ernie_distill.deploy import sharded_output


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(fixture_texts()) + "\n", encoding="utf-8")  # 240 lines
    return path


def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def stdout_rows(capsys, *args):
    assert predict.main(list(args)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_output_file_equals_stdout_and_an_existing_one_is_refused(exported_student, texts_file, tmp_path, capsys,
                                                                 monkeypatch):
    expected = stdout_rows(capsys, "--model_dir", exported_student, "--input_file", str(texts_file))
    out = tmp_path / "out.jsonl"
    assert predict.main(["--model_dir", exported_student, "--input_file", str(texts_file), "--output_file",
                         str(out), "--part_lines", "64"]) == 0
    assert rows(out) == expected and sorted(os.listdir(tmp_path)) == ["out.jsonl", "texts.txt"]  # parts removed
    text_out = tmp_path / "text.jsonl"
    assert predict.main(["--model_dir", exported_student, "--text", "太差了", "--output_file", str(text_out)]) == 0
    assert [r["text"] for r in rows(text_out)] == ["太差了"] and capsys.readouterr().out == ""
    with pytest.raises(SystemExit):
        predict.main(["--model_dir", exported_student, "--input_file", str(texts_file), "--output_file", str(out)])
    assert f"--output_file {out} exists: give a new path" in capsys.readouterr().err


def test_a_rerun_redoes_only_unfinished_parts_and_never_mixes_another_input(exported_student, texts_file, tmp_path,
                                                                           capsys, monkeypatch):
    expected = stdout_rows(capsys, "--model_dir", exported_student, "--input_file", str(texts_file))
    real, calls = predict.predict_window, []

    def killed_at_the_third_part(*args):
        calls.append(len(args[1]))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(predict, "predict_window", killed_at_the_third_part)
    out = tmp_path / "out.jsonl"
    command = ["--model_dir", exported_student, "--input_file", str(texts_file), "--output_file", str(out),
               "--part_lines", "64"]
    with pytest.raises(KeyboardInterrupt):
        predict.main(command)
    assert not out.exists()

    other = tmp_path / "other.txt"  # another input for the same output: the parts above must not be used
    other.write_text("\n".join(fixture_texts()[::-1]) + "\n", encoding="utf-8")
    calls.clear()
    monkeypatch.setattr(predict, "predict_window", lambda *args: calls.append(1) or real(*args))
    assert predict.main(["--model_dir", exported_student, "--input_file", str(other), "--output_file", str(out),
                         "--part_lines", "64"]) == 0
    assert len(calls) == 4 and [r["text"] for r in rows(out)] == fixture_texts()[::-1]
    os.remove(out)

    calls.clear()
    assert predict.main(command) == 0
    assert len(calls) == 2  # parts 3 and 4 only
    assert rows(out) == expected and not os.path.exists(f"{out}.parts")


def test_ranks_share_the_parts_and_rank_0_merges_them_in_input_order(exported_student, texts_file, tmp_path, capsys,
                                                                     monkeypatch):
    expected = stdout_rows(capsys, "--model_dir", exported_student, "--input_file", str(texts_file))
    real, done = predict.predict_window, []
    monkeypatch.setattr(predict, "predict_window", lambda *args: done.append(args[1][0].source) or real(*args))
    out = tmp_path / "out.jsonl"
    command = ["--model_dir", exported_student, "--input_file", str(texts_file), "--output_file", str(out),
               "--part_lines", "32"]  # 8 parts
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    monkeypatch.setenv("PADDLE_TRAINER_ID", "1")
    assert predict.main(command) == 0 and not out.exists()  # rank 1: its parts only
    assert done == [f"{texts_file}:{1 + 32 * part}" for part in (1, 3, 5, 7)]
    monkeypatch.setenv("PADDLE_TRAINER_ID", "0")
    assert predict.main(command) == 0
    assert done[4:] == [f"{texts_file}:{1 + 32 * part}" for part in (0, 2, 4, 6)]
    assert rows(out) == expected


def test_the_fingerprint_follows_the_input_the_model_and_the_settings(exported_student, texts_file, tmp_path):
    from ernie_distill.deploy.inference import RuntimeSettings
    from ernie_distill.deploy.manifest import Manifest

    manifest = Manifest.read(exported_student)
    base = sharded_output.parts_fingerprint(str(texts_file), manifest, True, RuntimeSettings())
    assert base == sharded_output.parts_fingerprint(str(texts_file), manifest, True, RuntimeSettings())
    with open(texts_file, "a", encoding="utf-8") as f:
        f.write("one more line\n")
    assert sharded_output.parts_fingerprint(str(texts_file), manifest, True, RuntimeSettings()) != base
    manifest.files = {**manifest.files, "model.pdiparams": "0" * 64}
    assert sharded_output.parts_fingerprint(str(texts_file), manifest, True, RuntimeSettings()) != base
    others = [sharded_output.parts_fingerprint(str(texts_file), Manifest.read(exported_student), *changed)
              for changed in [(False, RuntimeSettings()), (True, RuntimeSettings(backend="onnx"))]]
    assert base not in others


def test_the_teacher_pass_on_two_launcher_ranks_equals_one_process(exported_teacher, texts_file, tmp_path):
    single, sharded = tmp_path / "single.jsonl", tmp_path / "sharded.jsonl"
    common = ["--model_dir", exported_teacher, "--input_file", str(texts_file), "--logits", "--cpu_threads", "1"]
    subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), *common, "--output_file", str(single)],
                   check=True, cwd=ROOT, capture_output=True)
    launched = subprocess.run(
        [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
         str(tmp_path / "log"), os.path.join(ROOT, "predict.py"), *common, "--output_file", str(sharded),
         "--part_lines", "64"], cwd=ROOT, capture_output=True, text=True)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    one, two = rows(single), rows(sharded)
    assert [(r["text"], r["label"]) for r in one] == [(r["text"], r["label"]) for r in two]
    np.testing.assert_allclose([r["logits"] for r in two], [r["logits"] for r in one], atol=1e-4)
    with open(tmp_path / "log" / "workerlog.1", encoding="utf-8") as f:
        assert "rank 1: 2 part(s) written" in f.read()
