"""distillation_loss against a numpy reference."""
import numpy as np
import paddle
import pytest

from ernie_distill.training.losses import distillation_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 3)).astype("float32")
TEACHER = RNG.normal(size=(6, 3)).astype("float32")
LABELS = np.array([0, 2, -1, 1, -1, 2])  # -1: synthetic rows, no gold label


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def reference(alpha, kind, temperature):
    labelled = LABELS >= 0
    hard = -log_softmax(LOGITS)[labelled, LABELS[labelled]].mean()
    if kind == "mse":
        soft = ((LOGITS - TEACHER) ** 2).mean()
    else:
        p_teacher = np.exp(log_softmax(TEACHER / temperature))
        soft = (p_teacher * (np.log(p_teacher) - log_softmax(LOGITS / temperature))).sum(axis=1).mean() * temperature**2
    return alpha * hard + (1 - alpha) * soft


def loss(alpha, kind, temperature, teacher=TEACHER):
    return float(distillation_loss(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS),
                                   None if teacher is None else paddle.to_tensor(teacher), alpha, kind, temperature))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("kind, temperature", [("mse", 1.0), ("kl", 1.0), ("kl", 4.0)])
def test_matches_numpy_reference(alpha, kind, temperature):
    assert loss(alpha, kind, temperature) == pytest.approx(reference(alpha, kind, temperature), rel=1e-5)


def test_without_teacher_is_cross_entropy_on_labelled_rows_only():
    assert loss(0.0, "mse", 1.0, teacher=None) == pytest.approx(reference(1.0, "mse", 1.0), rel=1e-5)


@pytest.mark.parametrize("kind, temperature", [("mse", 1.0), ("kl", 4.0)])
def test_a_batch_of_synthetic_rows_only_has_no_hard_term(kind, temperature):
    """alpha > 0 on a batch without one gold label (all -1, as a batch of augmented texts can be): the hard term is 0,
    not 0 / 0, and the loss is the soft term's share."""
    synthetic = paddle.to_tensor(np.full(len(LABELS), -1))
    value = float(distillation_loss(paddle.to_tensor(LOGITS), synthetic, paddle.to_tensor(TEACHER), 0.5, kind,
                                    temperature))
    assert value == pytest.approx(0.5 * reference(0.0, kind, temperature), rel=1e-5)
