"""The transfer set and teacher logits caches, any kind of teacher, and several teachers at once."""
import os
import shutil

import numpy as np
import pytest

from conftest import FIXTURE_DIR, fixture_texts
from ernie_distill.data.reading import load_task
from ernie_distill.log import logger
from ernie_distill.models.teacher import ModelError
from ernie_distill.training.teachers import open_teacher
from ernie_distill.training.transfer_set import (TransferSettings, build_transfer_set, distillation_targets,
                                                 load_or_build_set, load_or_run_teacher, read_unlabeled)
from ernie_distill.models.vocab import tokenize

CHN = load_task("chnsenticorp")
SETTINGS = dict(n_iter=2, p_mask=0.1, p_pos=0.1, p_ng=0.25, max_ngram=5, seed=1)


@pytest.fixture(scope="module")
def corpus():
    return [tokenize(t) for t in fixture_texts()[:40]]


@pytest.fixture(scope="module")
def texts():
    return fixture_texts()[:40]


def test_set_and_logits_are_cached_and_reused(corpus, tmp_path):
    calls = []

    def fake_teacher(word_lists):
        calls.append(len(word_lists))
        return np.arange(2 * len(word_lists), dtype="float32").reshape(-1, 2)

    words, labels = load_or_build_set(str(tmp_path), corpus, [0] * len(corpus), SETTINGS)
    again = load_or_build_set(str(tmp_path), corpus, [0] * len(corpus), SETTINGS)
    assert again == (words, labels) and len(words) > len(corpus)
    first = load_or_run_teacher(str(tmp_path), "a", words, fake_teacher)
    np.testing.assert_array_equal(first, load_or_run_teacher(str(tmp_path), "a", words, fake_teacher))
    assert calls == [len(words)]


def transfer_settings(cache_dir, *teacher_dirs, weights=None):
    return TransferSettings(list(teacher_dirs), weights, cache_dir=str(cache_dir), teacher_batch_size=64, device="cpu",
                            **SETTINGS)


def test_a_save_pretrained_directory_is_a_teacher(trained_teacher, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(os.path.join(trained_teacher, "best_model"), plain)
    os.remove(plain / "teacher_info.json")  # what PaddleNLP's save_pretrained alone writes
    teacher = open_teacher(str(plain), CHN)
    assert (teacher.kind, teacher.model_type, teacher.labels) == ("save_pretrained", "ernie-gram", ["0", "1"])
    logits = teacher.logits_fn(16)([["房间", "很", "干净"], ["[MASK]", "太", "差"]])
    assert logits.shape == (2, 2) and np.isfinite(logits).all()


def targets(settings, texts, labels=None):
    return distillation_targets(settings, CHN, build_transfer_set(settings, texts, labels or [0] * len(texts)))


def test_two_teachers_are_averaged_and_the_cache_covers_each(trained_teacher, tiny_teacher_init, texts, tmp_path,
                                                             monkeypatch):
    import ernie_distill.training.teachers as teachers_module

    best = os.path.join(trained_teacher, "best_model")
    first, _ = targets(transfer_settings(tmp_path / "cache", best), texts)
    runs, real = [], teachers_module.Teacher.logits_fn
    monkeypatch.setattr(teachers_module.Teacher, "logits_fn",
                        lambda self, *run_on: lambda w: runs.append(self.path) or real(self, *run_on)(w))
    mean, provenance = targets(transfer_settings(tmp_path / "cache", best, tiny_teacher_init, weights=[3, 1]), texts)
    assert runs == [tiny_teacher_init]  # the first teacher's logits came from the cache
    second = np.load(os.path.join(provenance["cache"], f"logits-{provenance['teacher_digests'][1]}-"
                                                       f"{provenance['backends'][1]}.npy"))
    assert mean.shape == first.shape and len(first) > len(texts) and not np.allclose(first, second)
    np.testing.assert_allclose(mean, 0.75 * first + 0.25 * second, atol=1e-5)


def test_teachers_with_other_labels_and_unknown_kinds_are_refused(trained_teacher, tmp_path):
    with pytest.raises(ValueError, match=r"predicts labels \['0', '1'\], but task topics has labels"):
        open_teacher(os.path.join(trained_teacher, "best_model"),
                     load_task("topics", os.path.join(os.path.dirname(FIXTURE_DIR), "topics")))
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match="is no teacher this project knows; give one of: run_glue.py's best_model"):
        open_teacher(str(tmp_path), CHN)
    with pytest.raises(ValueError, match="--teacher_weights: give 1 non-negative weight"):
        targets(transfer_settings(tmp_path, os.path.join(trained_teacher, "best_model"), weights=[0]), ["好"], [1])


def test_an_exported_student_is_a_teacher_and_reads_masks_as_its_own_mask(exported_student, texts, tmp_path):
    from ernie_distill.deploy.inference import Predictor
    from ernie_distill.models.vocab import MASK

    teacher = open_teacher(exported_student, CHN)
    assert teacher.kind == "export" and teacher.model_type == "bilstm"
    words = [["房间", MASK, "干净"], ["太", "差"]]
    logits = teacher.logits_fn(16)(words)
    expected = Predictor(exported_student, "onnx").logits([f"房间{MASK}干净", "太差"])
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    encoded = Predictor(exported_student).encoder.encode([f"房间{MASK}干净"])[0][0]
    assert Predictor(exported_student).encoder.inputs.vocab.mask_id in encoded  # one [MASK] token, not 6 characters
    logits, provenance = targets(transfer_settings(tmp_path, exported_student), texts)
    assert provenance["teachers"][0]["kind"] == "export" and np.isfinite(logits).all()


def unlabeled_settings(tmp_path, *files, **kwargs):
    return TransferSettings(unlabeled_file=[str(f) for f in files], cache_dir=str(tmp_path / "cache"), **kwargs)


def test_unlabeled_texts_are_read_cleared_of_duplicates_and_sampled(tmp_path):
    plain, tsv = tmp_path / "reviews.txt", tmp_path / "reviews.tsv"
    plain.write_bytes("\ufeff新的评论一\n\n  房间  很干净 \r\n新的评论一\n新的评论二\n".encode())
    tsv.write_text("label\ttext_a\nnot-a-label\t新的评论三\n9\t新的评论二\n", encoding="utf-8")
    texts, counts = read_unlabeled(unlabeled_settings(tmp_path, plain, tsv), ["房间 很干净", "训练文本"])
    assert texts == ["新的评论一", "新的评论二", "新的评论三"]  # BOM dropped; labels ignored; blank lines skipped
    assert counts == {"files": [str(plain), str(tsv)], "read": 6, "duplicates": 3, "used": 3}
    sampled, counts = read_unlabeled(unlabeled_settings(tmp_path, plain, tsv, unlabeled_max=2, seed=3), [])
    assert len(sampled) == 2 and set(sampled) < {"新的评论一", "新的评论二", "新的评论三", "  房间  很干净 "}
    assert sampled == read_unlabeled(unlabeled_settings(tmp_path, plain, tsv, unlabeled_max=2, seed=3), [])[0]


@pytest.mark.parametrize("content, message", [
    (b"", "holds no text"),
    (b"\n \n", "holds no text"),
    (b"\xe6\x88\n", r"reviews.txt:1: not valid UTF-8"),
    (b"ok\n\x00\n", r"reviews.txt:2: no text, only control characters"),
    (b"dev text\n", "every text of --unlabeled_file .* is a duplicate of a training, dev or test text"),
])
def test_bad_unlabeled_files_are_one_error_naming_the_line(tmp_path, content, message):
    path = tmp_path / "reviews.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_unlabeled(unlabeled_settings(tmp_path, path), ["dev text"])
    with pytest.raises(ValueError, match="--unlabeled_file .*missing.txt: file not found"):
        read_unlabeled(unlabeled_settings(tmp_path, tmp_path / "missing.txt"), [])


def test_unlabeled_texts_enter_the_set_without_labels_and_change_its_key(tmp_path, texts):
    settings = TransferSettings(cache_dir=str(tmp_path), n_iter=1, seed=1)
    plain = build_transfer_set(settings, texts, [1] * len(texts))
    extra = ["全新的评论", "另一条评论"]
    mixed = build_transfer_set(settings, texts, [1] * len(texts), extra)
    assert mixed.path != plain.path and mixed.texts[len(texts):len(texts) + 2] == extra
    assert mixed.labels[:len(texts)] == [1] * len(texts) and set(mixed.labels[len(texts):]) == {-1}
    assert len(mixed.texts) == len(plain.texts) + 2  # the copies are of the training texts only
    augmented = build_transfer_set(TransferSettings(cache_dir=str(tmp_path), n_iter=1, seed=1, augment_unlabeled=True),
                                   texts, [1] * len(texts), extra)
    assert augmented.path != mixed.path and len(augmented.texts) > len(mixed.texts)


def test_the_teacher_pass_exports_a_fine_tuned_teacher_once_and_runs_it_on_the_fastest_backend(
        trained_teacher, tmp_path, monkeypatch, caplog):
    import ernie_distill.training.teachers as teachers_module
    from ernie_distill.deploy.manifest import Manifest
    from ernie_distill.models.teacher import load_classifier, predict_logits

    best = os.path.join(trained_teacher, "best_model")
    teacher = open_teacher(best, CHN)
    words = [tokenize(t) for t in fixture_texts()[:30]] + [["[MASK]", "很", "好"]]
    monkeypatch.setattr(teachers_module, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(logger, "propagate", True)  # into caplog
    caplog.set_level("INFO")

    def label(backend="auto"):
        caplog.clear()
        logits = teacher.logits_fn(8, "cpu", str(tmp_path), teacher.backend("cpu", backend))(words)
        return logits, caplog.text

    exact, log = label("paddle")  # float32: the dygraph model's logits, in input order though run sorted by length
    model, tokenizer = load_classifier(best, "ernie-gram")
    reference = predict_logits(model, tokenizer, teachers_module.texts_for(words, tokenizer.mask_token),
                               teacher.max_seq_length)
    np.testing.assert_allclose(exact, reference, atol=1e-4)
    export = tmp_path / f"teacher-export-{teacher.digest()}"
    assert Manifest.read(str(export)).kind == "teacher" and "teacher logits: 31/31 texts" in log  # the progress line
    int8, log = label()  # auto, with ONNX installed: quantized once into the cache
    assert "on backend onnx-int8" in log and Manifest.read(f"{export}-int8").has_backend("onnx-int8")
    mtime = os.path.getmtime(f"{export}-int8/manifest.json")
    monkeypatch.setattr(teachers_module, "onnx_export_installed", lambda: False)
    monkeypatch.setattr(teachers_module, "cpu_has_bf16", lambda: True)
    bf16, log = label()
    assert "on backend paddle-bf16" in log and os.path.getmtime(f"{export}-int8/manifest.json") == mtime
    for rounded in (int8, bf16):
        assert (rounded.argmax(1) == exact.argmax(1)).mean() > 0.9 and np.abs(rounded - exact).max() < 0.5
    monkeypatch.setattr(teachers_module, "cpu_has_bf16", lambda: False)
    assert "on backend paddle\n" in label()[1]
