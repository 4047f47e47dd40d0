"""distill_lstm.py: the student on hard labels, distillation, resume and bad input."""
import json
import os
import shutil

import numpy as np
import pytest

import distill_lstm
from conftest import FIXTURE_DIR, TINY_STUDENT, check_png
from ernie_distill.deploy import inference
from ernie_distill.models import teacher as teacher_module
from ernie_distill.training.checkpoint import CheckpointMismatch
from ernie_distill.data.reading import DataError, load_splits, load_task
from ernie_distill.models.student import load_student, student_scores
from ernie_distill.models.teacher import ModelError


def read(path):
    with open(path) as f:
        return json.load(f)


def test_hard_label_student_learns_and_reloads_with_same_predictions(trained_student):
    metrics = read(os.path.join(trained_student, "metrics.json"))
    assert metrics["mode"] == "hard_labels" and metrics["dev_accuracy"] > 0.8  # easy fixture; chance is 0.5
    model, inputs, info = load_student(os.path.join(trained_student, "best_model"))
    assert info["num_parameters"] == metrics["num_parameters"] and len(inputs.vocab) == metrics["vocab_size"]
    dev = load_splits(load_task("chnsenticorp"), FIXTURE_DIR, ("dev",))["dev"]
    encoded = [inputs.encode(e.text) for e in dev]
    scores = student_scores(model, inputs, encoded, [e.label for e in dev], ["0", "1"])
    assert scores["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    check_png(os.path.join(trained_student, "curves.png"))
    assert len(metrics["lr_history"]) == len(metrics["loss_history"]) > 1


def test_distillation_end_to_end_and_second_run_skips_the_teacher(trained_teacher, tmp_path, monkeypatch):
    teacher_dir = os.path.join(trained_teacher, "best_model")
    common = ["--data_dir", FIXTURE_DIR, "--teacher_dir", teacher_dir, "--cache_dir", str(tmp_path / "cache"),
              "--n_iter", "3", "--num_epochs", "3", *TINY_STUDENT]
    metrics = distill_lstm.main([*common, "--output_dir", str(tmp_path / "first")])
    assert metrics["mode"] == "distill" and metrics["train_examples"] > 3 * 240
    assert metrics["dev_accuracy"] > 0.7  # follows a teacher that is itself > 0.8 on this fixture
    assert metrics["teacher"]["pretrained"] is False

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran although its logits were cached")

    # the teacher pass runs the cached teacher export through a Predictor: a cache miss would build one
    monkeypatch.setattr(inference, "Predictor", no_teacher)
    monkeypatch.setattr(teacher_module, "load_classifier", no_teacher)
    again = distill_lstm.main([*common, "--output_dir", str(tmp_path / "second")])
    assert again["dev_accuracy"] == metrics["dev_accuracy"]  # same seed, same cached targets


UNLABELED = ["房间很大，早餐丰富，服务周到", "物流太慢了，包装也破了", "这本书写得真好，值得一读", "电脑发热严重，风扇很吵"]


def unlabeled_file(tmp_path):
    path = tmp_path / "unlabeled.txt"
    path.write_text("\n".join(UNLABELED) + "\n", encoding="utf-8")
    return str(path)


def same_weights(dir_a, dir_b):
    import paddle

    weights = [paddle.load(os.path.join(d, "model_state.pdparams")) for d in (dir_a, dir_b)]
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        np.testing.assert_allclose(value.numpy(), weights[1][name].numpy(), atol=1e-6, err_msg=name)


def test_a_teacher_elsewhere_gives_the_student_a_teacher_dir_gives(exported_student, tmp_path, capsys):
    """--write_transfer_set, then predict.py --logits (as on another machine), then --teacher_outputs: the same student
    as --teacher_dir with that teacher, unlabeled texts included."""
    from ernie_distill.commands import predict

    common = ["--data_dir", FIXTURE_DIR, "--unlabeled_file", unlabeled_file(tmp_path), "--cache_dir",
              str(tmp_path / "cache"), "--n_iter", "1", "--num_epochs", "1", *TINY_STUDENT]
    direct = distill_lstm.main([*common, "--teacher_dir", exported_student, "--output_dir", str(tmp_path / "direct")])
    transfer = tmp_path / "transfer.txt"
    assert distill_lstm.main([*common, "--write_transfer_set", str(transfer)]) == 0
    with pytest.raises(SystemExit):  # an existing file is never overwritten
        distill_lstm.main([*common, "--write_transfer_set", str(transfer)])
    lines = transfer.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == direct["train_examples"] and set(UNLABELED) < set(lines) and "[MASK]" in "".join(lines)
    capsys.readouterr()
    assert predict.main(["--model_dir", exported_student, "--input_file", str(transfer), "--logits"]) == 0
    (tmp_path / "outputs.jsonl").write_text(capsys.readouterr().out, encoding="utf-8")
    elsewhere = distill_lstm.main([*common, "--teacher_outputs", str(tmp_path / "outputs.jsonl"), "--output_dir",
                                   str(tmp_path / "elsewhere")])
    assert elsewhere["unlabeled_texts"] == direct["unlabeled_texts"] == len(UNLABELED)
    assert elsewhere["teacher"]["unlabeled"] == {"files": [common[3]], "read": 4, "duplicates": 0, "used": 4}
    assert elsewhere["loss_history"] == direct["loss_history"]
    same_weights(tmp_path / "direct" / "best_model", tmp_path / "elsewhere" / "best_model")
    both = distill_lstm.main([*common, "--teacher_dir", exported_student, "--teacher_outputs",
                              str(tmp_path / "outputs.jsonl"), "--teacher_weights", "1", "3", "--output_dir",
                              str(tmp_path / "both")])  # the same logits twice, weighted: the same mean
    assert both["loss_history"] == direct["loss_history"] and both["teacher"]["weights"] == [1.0, 3.0]


@pytest.mark.parametrize("case", ["empty unlabeled file", "all unlabeled texts in dev", "unknown text in outputs",
                                  "NaN in outputs", "embeddings of another width", "malformed embeddings"])
def test_bad_distillation_input_is_one_error_and_writes_nothing(tmp_path, case):
    dev_texts = [e.text for e in load_splits(load_task("chnsenticorp"), FIXTURE_DIR, ("dev",))["dev"]]
    given, transfer = tmp_path / "given.txt", str(tmp_path / "t.txt")
    flags = {"empty unlabeled file": ("", ["--unlabeled_file", str(given), "--write_transfer_set", transfer],
                                      "holds no text"),
             "all unlabeled texts in dev": ("\n".join(dev_texts[:5]), ["--unlabeled_file", str(given),
                                                                     "--write_transfer_set", transfer],
                                            "is a duplicate of a training, dev or test text"),
             "unknown text in outputs": ('{"text": "不在其中", "logits": [0, 1]}', ["--teacher_outputs", str(given)],
                                         r"given.txt:1: text \"不在其中\" is not in the transfer set"),
             "NaN in outputs": ('{"text": "x", "logits": [NaN, 1]}', ["--teacher_outputs", str(given)],
                                r"given.txt:1: logits must be finite"),
             "embeddings of another width": ("2 3\n好 0.1 0.2 0.3\n差 0.1 0.2 0.3\n",
                                             ["--pretrained_embeddings", str(given)],
                                             "holds 3-dimensional vectors .*: pass --embedding_dim 3"),
             "malformed embeddings": ("好 0.1 0.2 0.3\n差 0.1 x 0.3\n",
                                      ["--pretrained_embeddings", str(given), "--embedding_dim", "3"],
                                      r"given.txt:2: the values after the word are not all numbers")}
    content, extra, message = flags[case]
    given.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache"),
                           "--n_iter", "1", *TINY_STUDENT, *extra])
    assert not out.exists() and not (tmp_path / "t.txt").exists()


def test_pretrained_embeddings_start_the_student_and_their_coverage_is_kept(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("3 32\n" + "".join(f"{c} {' '.join(['0.5'] * 32)}\n" for c in "好差Ｘ"), encoding="utf-8")
    metrics = distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "out"), "--num_epochs", "1",
                                 "--pretrained_embeddings", str(vectors), *TINY_STUDENT])
    coverage = metrics["pretrained_embeddings"]
    assert coverage["found"] == 2 and coverage["vocab"] == metrics["vocab_size"] - 3
    assert read(tmp_path / "out" / "best_model" / "student_info.json")["pretrained_embeddings"] == coverage


def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path, monkeypatch, exported_student):
    import paddle

    def args(output_dir, *extra):  # distilled, with unlabeled texts
        return ["--data_dir", FIXTURE_DIR, "--output_dir", str(output_dir), "--num_epochs", "2", "--eval_steps", "10",
                "--teacher_dir", exported_student, "--unlabeled_file", unlabeled, "--n_iter", "0", "--cache_dir",
                str(tmp_path / "cache"), *TINY_STUDENT, *extra]

    unlabeled = unlabeled_file(tmp_path)

    straight = distill_lstm.main(args(tmp_path / "straight"))
    real_scores, calls = distill_lstm.student_scores, []

    def crash_on_third_evaluation(*a):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # at step 30 of 32; the checkpoint holds step 20, in the middle of epoch 2
        return real_scores(*a)

    monkeypatch.setattr(distill_lstm, "student_scores", crash_on_third_evaluation)
    with pytest.raises(KeyboardInterrupt, match="at step 30; the same command with --resume continues from step 20"):
        distill_lstm.main(args(tmp_path / "crashed"))
    monkeypatch.setattr(distill_lstm, "student_scores", real_scores)
    assert read(tmp_path / "crashed" / "checkpoint" / "trainer_state.json")["global_step"] == 20
    resumed = distill_lstm.main(args(tmp_path / "crashed", "--resume"))
    assert resumed["steps"] == straight["steps"] == 32 and resumed["dev_accuracy"] == straight["dev_accuracy"]
    for history in ("loss_history", "eval_history", "lr_history"):  # the curves' whole history, the crash's included
        np.testing.assert_allclose(resumed[history], straight[history], atol=1e-4, err_msg=history)
    check_png(tmp_path / "crashed" / "curves.png")
    weights = [paddle.load(str(d / "checkpoint" / "model_state.pdparams")) for d in (tmp_path / "straight",
                                                                                    tmp_path / "crashed")]
    for name, value in weights[0].items():
        np.testing.assert_allclose(value.numpy(), weights[1][name].numpy(), atol=1e-6, err_msg=name)


def test_an_interrupt_before_the_first_checkpoint_says_so(tmp_path, monkeypatch):
    def interrupt(*_):
        raise KeyboardInterrupt  # in the first evaluation, before its checkpoint is written

    monkeypatch.setattr(distill_lstm, "student_scores", interrupt)
    with pytest.raises(KeyboardInterrupt, match="^at step 10, before the first checkpoint: the same command starts"):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path), "--eval_steps", "10",
                           *TINY_STUDENT])
    assert not (tmp_path / "checkpoint").exists()


def test_resume_refuses_another_runs_checkpoint_and_says_what_differs(trained_student, tmp_path):
    shutil.copytree(os.path.join(trained_student, "checkpoint"), tmp_path / "checkpoint")
    common = ["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path), *TINY_STUDENT, "--num_epochs", "6", "--resume"]
    with pytest.raises(CheckpointMismatch, match="settings.hidden_size: checkpoint 32, this run 64"):
        distill_lstm.main([*common, "--hidden_size", "64"])
    other_data = tmp_path / "data"
    shutil.copytree(FIXTURE_DIR, other_data)
    with open(other_data / "train.tsv", "a", encoding="utf-8") as f:
        f.write("1\t多了一行\n")
    with pytest.raises(CheckpointMismatch, match=r"data.train: checkpoint '[0-9a-f]+', this run '[0-9a-f]+'"):
        distill_lstm.main([*common[:1], str(other_data), *common[2:]])
    assert not os.path.exists(tmp_path / "best_model")  # refused before anything was written


def test_teacher_dir_without_weights(trained_teacher, tmp_path):
    broken = tmp_path / "teacher"
    shutil.copytree(os.path.join(trained_teacher, "best_model"), broken)
    os.remove(broken / "model_state.pdparams")
    with pytest.raises(ModelError, match="missing model_state.pdparams"):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "out"), "--teacher_dir",
                           str(broken)])


def test_teacher_with_other_labels(trained_teacher, tmp_path):
    other = tmp_path / "teacher"
    shutil.copytree(os.path.join(trained_teacher, "best_model"), other)
    info = read(other / "teacher_info.json")
    (other / "teacher_info.json").write_text(json.dumps({**info, "labels": ["neg", "neu", "pos"]}))
    with pytest.raises(DataError, match="predicts labels"):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "out"), "--teacher_dir",
                           str(other)])


def test_data_dir_without_files_and_empty_training_set(tmp_path):
    with pytest.raises(DataError, match="missing train.tsv"):
        distill_lstm.main(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")])
    (tmp_path / "train.tsv").write_text("label\ttext_a\n")
    shutil.copy(os.path.join(FIXTURE_DIR, "dev.tsv"), tmp_path)
    with pytest.raises(DataError, match="train.tsv: no usable rows"):
        distill_lstm.main(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")])


def test_kl_loss_with_temperature_and_a_constant_learning_rate_train(trained_teacher, tmp_path):
    metrics = distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "kl"), "--teacher_dir",
                                 os.path.join(trained_teacher, "best_model"), "--cache_dir", str(tmp_path / "cache"),
                                 "--n_iter", "1", "--num_epochs", "2", "--distill_loss", "kl", "--temperature", "2",
                                 "--lr_schedule", "constant", *TINY_STUDENT])
    losses = [loss for _, loss in metrics["loss_history"]]
    assert metrics["args"]["distill_loss"] == "kl" and np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("damage", ["truncated weights", "malformed teacher_info.json"])
def test_a_damaged_teacher_is_one_error(trained_teacher, tmp_path, damage):
    broken = tmp_path / "teacher"
    shutil.copytree(os.path.join(trained_teacher, "best_model"), broken)
    if damage == "truncated weights":
        weights = broken / "model_state.pdparams"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (broken / "teacher_info.json").write_text('{"labels": ["0", "1"], "model_type": ')
    with pytest.raises(ModelError, match=str(broken)):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(tmp_path / "out"), "--teacher_dir",
                           str(broken), "--cache_dir", str(tmp_path / "cache"), *TINY_STUDENT])


def test_bad_input_leaves_the_previous_run_alone(trained_student, tmp_path):
    out = tmp_path / "student"
    shutil.copytree(trained_student, out)
    before = (out / "metrics.json").read_bytes()
    with pytest.raises(ModelError):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(out), "--teacher_dir",
                           str(tmp_path / "nothing"), *TINY_STUDENT])
    assert (out / "metrics.json").read_bytes() == before  # nothing was removed before the input was checked


def test_a_student_does_not_overwrite_a_teacher_run(trained_teacher, tmp_path):
    out = tmp_path / "teacher"
    shutil.copytree(trained_teacher, out)
    with pytest.raises(ValueError, match="holds a teacher run"):
        distill_lstm.main(["--data_dir", FIXTURE_DIR, "--output_dir", str(out), "--num_epochs", "1", *TINY_STUDENT])
    assert read(out / "best_model" / "teacher_info.json")["model_type"] == "ernie-gram"
