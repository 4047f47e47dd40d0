import json
import os

import numpy as np
import paddle
import pytest

import run_glue
from conftest import check_png, glue_args
from ernie_distill.models.teacher import ModelError, TEACHER_INFO, load_teacher, predict_logits


def read(path):
    with open(path) as f:
        return json.load(f)


def test_fine_tuning_learns_and_keeps_best_model(trained_teacher):
    metrics = read(os.path.join(trained_teacher, "metrics.json"))
    losses = [loss for _, loss in metrics["loss_history"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.1
    assert metrics["dev_accuracy"] > 0.8  # an easy fixture: chance is 0.5
    info = read(os.path.join(trained_teacher, "best_model", TEACHER_INFO))
    assert info["dev_accuracy"] == metrics["dev_accuracy"] and info["step"] == metrics["best_step"]
    assert info["pretrained"] is False and info["labels"] == ["0", "1"] and info["model_type"] == "ernie-gram"
    assert os.path.isfile(os.path.join(trained_teacher, "best_model", "random_init.json"))
    check_png(os.path.join(trained_teacher, "curves.png"))


def test_best_model_reloads_with_same_logits(trained_teacher):
    from paddlenlp.transformers import ErnieGramForSequenceClassification, ErnieGramTokenizer

    best = os.path.join(trained_teacher, "best_model")
    model, tokenizer, _ = load_teacher(best)
    texts = ["酒店很好", "房间非常脏，住了两晚"]
    first = predict_logits(model, tokenizer, texts, 32)
    again = predict_logits(ErnieGramForSequenceClassification.from_pretrained(best),
                           ErnieGramTokenizer.from_pretrained(best), texts, 32)
    np.testing.assert_allclose(first, again, atol=1e-6)
    assert (first.argmax(1) == [1, 0]).all()


def test_resume_after_a_crash_matches_an_uninterrupted_run(tiny_teacher_init, tmp_path, monkeypatch):
    straight, crashed = str(tmp_path / "straight"), str(tmp_path / "crashed")
    common = ["--max_steps", "30", "--save_steps", "10"]
    run_glue.main(glue_args(tiny_teacher_init, straight, *common))

    real_logits, calls = run_glue.encoded_logits, []

    def crash_on_second_evaluation(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # dies at step 15, mid-run; the checkpoint holds step 10
        return real_logits(*args)

    monkeypatch.setattr(run_glue, "encoded_logits", crash_on_second_evaluation)
    with pytest.raises(KeyboardInterrupt, match="at step 20; the same command with --resume continues from step 10"):
        run_glue.main(glue_args(tiny_teacher_init, crashed, *common))
    monkeypatch.setattr(run_glue, "encoded_logits", real_logits)
    assert read(os.path.join(crashed, "checkpoint", "trainer_state.json"))["global_step"] == 10

    state = run_glue.main(glue_args(tiny_teacher_init, crashed, *common, "--resume"))
    assert state.global_step == 30
    uninterrupted = read(os.path.join(straight, "metrics.json"))  # the curves' whole history, the crash's included
    assert [step for step, _ in state.lr_history] == [step for step, _ in uninterrupted["lr_history"]] == [5, 10, 15,
                                                                                                          20, 25, 30]
    assert state.lr_history == uninterrupted["lr_history"] and state.eval_history == uninterrupted["eval_history"]
    weights = [paddle.load(os.path.join(d, "checkpoint", "model_state.pdparams")) for d in (straight, crashed)]
    for name, value in weights[0].items():
        np.testing.assert_allclose(value.numpy(), weights[1][name].numpy(), atol=1e-6, err_msg=name)


def test_unknown_model_type_lists_choices(capsys):
    with pytest.raises(SystemExit):
        run_glue.parse_args(["--model_type", "gpt", "--model_name_or_path", "x", "--output_dir", "o"])
    assert "ernie-gram" in capsys.readouterr().err


def test_unknown_task_name_says_how_to_define_one(tiny_teacher_init, tmp_path):
    args = glue_args(tiny_teacher_init, str(tmp_path / "out"))
    args[args.index("--task_name") + 1] = "sst-2"
    with pytest.raises(ValueError, match="built-in task is chnsenticorp; for your own task"):
        run_glue.main(args)


def test_resume_refuses_a_checkpoint_of_another_run(trained_teacher, tiny_teacher_init, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(os.path.join(trained_teacher, "checkpoint"), out / "checkpoint")
    with pytest.raises(ValueError, match=r"different run \(settings.learning_rate: checkpoint 0.003, this run 0.001"):
        run_glue.main(glue_args(tiny_teacher_init, str(out), "--num_train_epochs", "6", "--learning_rate", "1e-3",
                                "--resume"))


@pytest.mark.parametrize("remove, message", [
    ("model_state.pdparams", "missing model_state.pdparams or model.safetensors"),
    ("vocab.txt", "missing vocab.txt"),
    ("config.json", "missing config.json"),
])
def test_incomplete_local_model_dir_names_missing_file(tiny_teacher_init, tmp_path, remove, message):
    import shutil

    broken = tmp_path / "model"
    shutil.copytree(tiny_teacher_init, broken)
    os.remove(broken / remove)
    with pytest.raises(ModelError, match=message):
        run_glue.main(glue_args(str(broken), str(tmp_path / "out")))


def test_missing_model_dir(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        run_glue.main(glue_args(str(tmp_path / "nothing"), str(tmp_path / "out")))


def test_a_labelled_test_split_scores_the_best_model(tiny_teacher_init, tmp_path):
    import shutil

    from conftest import FIXTURE_DIR

    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DIR, data)
    shutil.copy(data / "dev.tsv", data / "test.tsv")  # the same rows: the test score must equal the best dev score
    args = glue_args(tiny_teacher_init, str(tmp_path / "out"), "--max_steps", "30", "--save_steps", "10")
    args[args.index("--data_dir") + 1] = str(data)
    run_glue.main(args)
    metrics = read(os.path.join(tmp_path, "out", "metrics.json"))
    assert metrics["test_accuracy"] == pytest.approx(metrics["dev_accuracy"])


# ernie-gram-zh's vocab.txt layout ([PAD] [CLS] [SEP] [MASK], characters, [UNK] last) over the fixtures' characters
VOCAB = os.path.join(os.path.dirname(__file__), "fixtures", "ernie-gram-zh", "vocab.txt")


def test_course_command_loads_ernie_gram_zh_from_a_filled_paddlenlp_cache(tmp_path):
    """PaddleNLP's own name resolution, offline: the course command with `ernie-gram-zh` unchanged."""
    import subprocess
    import sys

    from conftest import FIXTURE_DIR, ROOT

    env = {**os.environ, "PPNLP_HOME": str(tmp_path / "ppnlp")}
    subprocess.run([sys.executable, "scripts/fill_paddlenlp_cache.py", "--vocab_file", VOCAB, "--random_weights"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    course = ["--model_type", "ernie-gram", "--model_name_or_path", "ernie-gram-zh", "--task_name", "ChnSentiCorp",
              "--max_seq_length", "16", "--batch_size", "4", "--learning_rate", "5e-5", "--num_train_epochs", "3",
              "--logging_steps", "10", "--save_steps", "10", "--output_dir", str(tmp_path / "out"), "--device", "cpu"]
    done = subprocess.run([sys.executable, "run_glue.py", *course, "--data_dir", FIXTURE_DIR, "--max_steps", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    info = read(tmp_path / "out" / "best_model" / TEACHER_INFO)
    assert info["init_from"] == "ernie-gram-zh" and info["pretrained"] is True
    config = read(tmp_path / "out" / "best_model" / "config.json")
    assert config["num_hidden_layers"] == 12 and config["hidden_size"] == 768 and config["vocab_size"] == 18018


def test_a_short_run_warns_and_a_teacher_barely_better_than_guessing_says_so(tiny_teacher_init, tmp_path, log_lines):
    """The course's settings on a small data set make few steps: said before training; a teacher that learnt nothing
    (random weights, 2 steps) is said to be barely better than guessing, with what to try, in the log and metrics."""
    run_glue.main(glue_args(tiny_teacher_init, str(tmp_path), "--max_steps", "2", "--learning_rate", "1e-7"))
    assert any(line.startswith("only 2 optimizer steps (240 training texts, batch 16") and "--num_train_epochs" in line
               for line in log_lines), log_lines
    metrics = json.load(open(tmp_path / "metrics.json"))
    warning = metrics["guessing"]["warning"]
    assert warning.startswith("barely better than guessing") and "random weights" in warning, warning
    assert f"this teacher is {warning}" in log_lines and metrics["guessing"]["majority_rate"] >= 0.5
