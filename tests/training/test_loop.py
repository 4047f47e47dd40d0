"""The training loop's mixed precision (--use_amp): Paddle's own AMP calls, wired as PaddleNLP does."""
import numpy as np
import paddle

from ernie_distill.training import loop
from ernie_distill.training.loop import MixedPrecision, Schedule, train


def tiny_run(tmp_path, mixed_precision, seed=0):
    """A linear model trained 6 steps by the real loop; returns its weights."""
    paddle.seed(seed)
    model = paddle.nn.Linear(4, 2)
    optimizer = paddle.optimizer.SGD(0.1, parameters=model.parameters())
    data = np.random.default_rng(seed).normal(size=(12, 4)).astype("float32")
    gold = (data[:, 0] > 0).astype("int64")

    def epoch_batches(epoch):
        for start in range(0, 12, 4):
            yield data[start : start + 4], gold[start : start + 4]

    def compute_loss(net, batch):
        return paddle.nn.functional.cross_entropy(net(paddle.to_tensor(batch[0])), paddle.to_tensor(batch[1]))

    train(model, optimizer, Schedule(2, 3, logging_steps=3), epoch_batches, compute_loss, lambda _: {"accuracy": 0.5},
          lambda directory, state: None, str(tmp_path), {}, "student", mixed_precision=mixed_precision)
    return model.weight.numpy()


def test_mixed_precision_runs_paddles_amp_calls_and_is_float32_on_a_cpu(tmp_path):
    """On a CPU Paddle's auto_cast and GradScaler pass everything through (the reason --use_amp is refused there), so
    the same steps give the same weights; on a GPU the same calls run float16 (untested here: no Paddle GPU build)."""
    plain = tiny_run(tmp_path / "plain", None)
    amp = tiny_run(tmp_path / "amp", MixedPrecision(init_loss_scaling=1024.0))
    np.testing.assert_allclose(amp, plain, rtol=1e-6)
    assert not np.allclose(plain, tiny_run(tmp_path / "other", None, seed=1))


def test_the_best_models_config_is_put_in_place_last(tmp_path, monkeypatch):
    """Where best_model is a mount point, replaced file by file, a reader sees its config (what it checks first) only
    once the weights are in place: the old model, or the new one, never a mix."""
    lasts = []
    monkeypatch.setattr(loop, "save_dir_atomically", lambda path, write, last=(): lasts.append(last))
    tiny_run(tmp_path, None)
    assert lasts and all(set(last) == {"config.json", "student_config.json"} for last in lasts)


def test_the_loss_goes_through_the_scaler(tmp_path, monkeypatch):
    """The scaled loss is what backward runs on, and the scaler (not the optimizer) takes the step."""
    calls = []

    class RecordingScaler:
        def scale(self, loss):
            calls.append("scale")
            return loss * 8.0

        def minimize(self, optimizer, scaled):
            calls.append("minimize")
            for parameter in optimizer._parameter_list:
                parameter.grad.set_value(parameter.grad / 8.0)
            optimizer.step()

    monkeypatch.setattr(MixedPrecision, "scaler", lambda self: RecordingScaler())
    scaled = tiny_run(tmp_path / "scaled", MixedPrecision())
    assert calls == ["scale", "minimize"] * 6
    np.testing.assert_allclose(scaled, tiny_run(tmp_path / "plain", None), rtol=1e-5)


def test_a_data_parallel_rank_other_than_the_main_one_only_trains(tmp_path):
    """Rank 0 evaluates, checkpoints and writes the best model; another rank neither evaluates nor writes."""
    paddle.seed(0)
    model = paddle.nn.Linear(4, 2)
    optimizer = paddle.optimizer.SGD(0.1, parameters=model.parameters())
    data = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    evaluations, saved = [], []

    def compute_loss(net, batch):
        return paddle.nn.functional.cross_entropy(net(paddle.to_tensor(batch)), paddle.to_tensor(np.zeros(4, "int64")))

    state = train(model, optimizer, Schedule(2, 2, eval_steps=1, logging_steps=1), lambda epoch: [data[:4], data[4:]],
                  compute_loss, lambda _: evaluations.append(1) or {"accuracy": 0.5},
                  lambda directory, state: saved.append(directory), str(tmp_path / "out"), {}, "teacher",
                  is_main_process=False)
    assert state.global_step == 4 and evaluations == [] and saved == [] and not (tmp_path / "out").exists()
