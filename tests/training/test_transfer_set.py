"""The transfer set and teacher logits caches, any kind of teacher, and several teachers at once."""
import os
import shutil

import numpy as np
import pytest

from conftest import FIXTURE_DIR, fixture_texts
from ernie_distill.data.reading import load_task
from ernie_distill.models.teacher import ModelError
from ernie_distill.training.teachers import open_teacher
from ernie_distill.training.transfer_set import (TransferSettings, distillation_targets, load_or_build_set,
                                                 load_or_run_teacher)
from ernie_distill.models.vocab import tokenize

CHN = load_task("chnsenticorp")
SETTINGS = dict(n_iter=2, p_mask=0.1, p_pos=0.1, p_ng=0.25, max_ngram=5, seed=1)


@pytest.fixture(scope="module")
def corpus():
    return [tokenize(t) for t in fixture_texts()[:40]]


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


def test_two_teachers_are_averaged_and_the_cache_covers_each(trained_teacher, tiny_teacher_init, corpus, tmp_path,
                                                             monkeypatch):
    import ernie_distill.training.teachers as teachers_module

    best, labels = os.path.join(trained_teacher, "best_model"), [0] * len(corpus)
    words, _, first, _ = distillation_targets(transfer_settings(tmp_path / "cache", best), CHN, corpus, labels)
    runs, real = [], teachers_module.Teacher.logits_fn
    monkeypatch.setattr(teachers_module.Teacher, "logits_fn",
                        lambda self, *run_on: lambda w: runs.append(self.path) or real(self, *run_on)(w))
    _, _, mean, provenance = distillation_targets(
        transfer_settings(tmp_path / "cache", best, tiny_teacher_init, weights=[3, 1]), CHN, corpus, labels)
    assert runs == [tiny_teacher_init]  # the first teacher's logits came from the cache
    second = np.load(os.path.join(provenance["cache"], f"logits-{provenance['teacher_digests'][1]}.npy"))
    assert mean.shape == (len(words), 2) and not np.allclose(first, second)
    np.testing.assert_allclose(mean, 0.75 * first + 0.25 * second, atol=1e-5)


def test_teachers_with_other_labels_and_unknown_kinds_are_refused(trained_teacher, tmp_path):
    with pytest.raises(ValueError, match=r"predicts labels \['0', '1'\], but task topics has labels"):
        open_teacher(os.path.join(trained_teacher, "best_model"),
                     load_task("topics", os.path.join(os.path.dirname(FIXTURE_DIR), "topics")))
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match="is no teacher this project knows; give one of: run_glue.py's best_model"):
        open_teacher(str(tmp_path), CHN)
    with pytest.raises(ValueError, match="--teacher_weights: give 1 non-negative weight"):
        distillation_targets(transfer_settings(tmp_path, os.path.join(trained_teacher, "best_model"), weights=[0]), CHN,
                             [["好"]], [1])


def test_an_exported_student_is_a_teacher_and_reads_masks_as_its_own_mask(exported_student, corpus, tmp_path):
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
    _, _, targets, provenance = distillation_targets(transfer_settings(tmp_path, exported_student), CHN, corpus,
                                                     [0] * len(corpus))
    assert provenance["teachers"][0]["kind"] == "export" and np.isfinite(targets).all()
