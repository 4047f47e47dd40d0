"""Student training losses: cross-entropy on gold labels, MSE on teacher logits (Tang et al.), or KL with temperature."""
import paddle
import paddle.nn.functional as F


def distillation_loss(logits, labels, teacher_logits=None, alpha=0.0, kind="mse", temperature=1.0):
    """alpha * CE(labels) + (1 - alpha) * soft loss; rows labelled -1 (synthetic examples) get no CE term.

    Without teacher logits this is plain cross-entropy, the hard-label baseline.
    """
    labeled = paddle.cast(labels >= 0, logits.dtype)
    ce_rows = F.cross_entropy(logits, paddle.clip(labels, min=0).unsqueeze(1), reduction="none").squeeze(1)
    hard = paddle.sum(ce_rows * labeled) / paddle.clip(paddle.sum(labeled), min=1.0)
    if teacher_logits is None:
        return hard
    if kind == "mse":
        soft = F.mse_loss(logits, teacher_logits)
    else:
        soft = F.kl_div(F.log_softmax(logits / temperature, axis=-1), F.softmax(teacher_logits / temperature, axis=-1),
                        reduction="batchmean") * temperature**2
    return soft if alpha == 0 else alpha * hard + (1 - alpha) * soft
