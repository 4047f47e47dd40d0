"""The curves of a training run: the PNG beside the model (a real picture, redrawn at each evaluation, whole after
--resume) and VisualDL logs where VisualDL is installed (none, and no error, where it is not)."""
import glob
import os
import sys

import numpy as np
import paddle
import pytest

from conftest import check_png, require
from ernie_distill.training import curves as curves_module
from ernie_distill.training.curves import CURVES, TrainingCurves, default_logging_dir
from ernie_distill.training.loop import Schedule, train


def tiny_run(output_dir, curves, resume=False, stop_at=None):
    """A linear model trained 2 epochs of 3 steps by the real loop, logging every step, evaluating each epoch; with
    stop_at, interrupted (Ctrl-C) at that step."""
    paddle.seed(0)
    model = paddle.nn.Linear(4, 2)
    lr = paddle.optimizer.lr.PolynomialDecay(0.1, 6, end_lr=0.0)
    optimizer = paddle.optimizer.SGD(lr, parameters=model.parameters())
    data = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
    gold = (data[:, 0] > 0).astype("int64")
    steps = []

    def epoch_batches(epoch):
        for start in range(0, 12, 4):
            yield data[start : start + 4], gold[start : start + 4]

    def compute_loss(net, batch):
        steps.append(None)
        if stop_at is not None and len(steps) == stop_at:
            raise KeyboardInterrupt
        return paddle.nn.functional.cross_entropy(net(paddle.to_tensor(batch[0])), paddle.to_tensor(batch[1]))

    accuracies = iter([0.5, 0.75])
    return train(model, optimizer, Schedule(2, 3, logging_steps=1), epoch_batches, compute_loss,
                 lambda _: {"accuracy": next(accuracies)}, lambda directory, state: None, str(output_dir), {},
                 "student", resume=resume, lr_scheduler=lr, curves=curves)


def copied(args):
    """draw_curves' arguments as they were at the call (the histories grow afterwards)."""
    return [list(arg) if isinstance(arg, list) else arg for arg in args]


def vdl_scalars(logging_dir):
    from visualdl import LogReader

    (path,) = glob.glob(os.path.join(logging_dir, "vdlrecords.*.log"))
    reader = LogReader(file_path=path)
    return {tag: [(record.id, record.value) for record in reader.get_data("scalar", tag)]
            for tag in reader.get_tags()["scalar"]}


def test_a_run_draws_its_curves_at_each_evaluation_and_writes_visualdl_logs(tmp_path, monkeypatch):
    require("visualdl", "train")  # (PaddleNLP brings it: in CI, missing is a failure)
    drawn = []
    draw = curves_module.draw_curves
    monkeypatch.setattr(curves_module, "draw_curves", lambda *args: (drawn.append(copied(args)), draw(*args)))
    state = tiny_run(tmp_path, TrainingCurves(str(tmp_path), str(tmp_path / "vdl")))
    assert [len(args[1]) for args in drawn] == [1, 2]  # redrawn at each evaluation, with the history so far
    check_png(tmp_path / CURVES)
    assert state.lr_history == [[step, pytest.approx(0.1 * (6 - step) / 6, rel=1e-5)] for step in range(1, 7)]
    scalars = vdl_scalars(str(tmp_path / "vdl"))  # PaddleNLP's Trainer's tags
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, 7))
    assert [value for _, value in scalars["train/loss"]] == pytest.approx([loss for _, loss in state.loss_history],
                                                                          abs=1e-4)
    assert [value for _, value in scalars["train/learning_rate"]] == pytest.approx([lr for _, lr in state.lr_history],
                                                                                   rel=1e-5)  # (float32 there)
    assert scalars["eval/accuracy"] == [(3, 0.5), (6, 0.75)]


def test_without_visualdl_the_run_goes_on_and_still_draws(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "visualdl", None)  # import visualdl raises ImportError
    tiny_run(tmp_path, TrainingCurves(str(tmp_path), str(tmp_path / "vdl")))
    check_png(tmp_path / CURVES)
    assert not os.path.exists(tmp_path / "vdl")


def test_curves_after_resume_hold_the_whole_run(tmp_path, monkeypatch):
    """The histories travel in the checkpoint: the picture a resumed run draws starts at step 1."""
    monkeypatch.setitem(sys.modules, "visualdl", None)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(tmp_path, TrainingCurves(str(tmp_path)), stop_at=5)  # after the checkpoint at step 3
    drawn = []
    monkeypatch.setattr(curves_module, "draw_curves", lambda *args: drawn.append(copied(args)))
    state = tiny_run(tmp_path, TrainingCurves(str(tmp_path)), resume=True)
    (loss, evals, lrs, _, _), = drawn
    assert [step for step, _ in loss] == [step for step, _ in lrs] == list(range(1, 7))
    assert evals == [[3, 0.5], [6, 0.5]] and state.eval_history == evals  # (a new run's accuracies start again)


def test_a_fresh_run_removes_an_earlier_runs_curves(tmp_path, monkeypatch):
    (tmp_path / CURVES).write_bytes(b"an earlier run's")
    monkeypatch.setattr(curves_module, "draw_curves", lambda *args: None)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(tmp_path, TrainingCurves(str(tmp_path)), stop_at=1)  # before any evaluation
    assert not os.path.exists(tmp_path / CURVES)


def test_the_default_logging_dir_is_paddlenlps():
    from paddlenlp.trainer.training_args import default_logdir

    before, theirs, after = default_logging_dir("out"), os.path.join("out", default_logdir()), default_logging_dir("out")
    assert theirs in (before, after)  # (the same second's folder: OUTPUT_DIR/runs/MonDD_HH-MM-SS_HOST)
