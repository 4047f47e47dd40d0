"""Classification scores: accuracy, per-class precision/recall/F1 with their macro mean (accuracy hides a rare class;
macro-F1 does not), and the exact McNemar test for comparing two classifiers on the same examples."""
from math import comb

import numpy as np


def classification_scores(predictions, labels, label_names):
    """{"accuracy", "macro_f1", "per_class": {name: {"precision", "recall", "f1", "support"}}, "confusion"} for id
    arrays; confusion[i][j] counts the examples of class i predicted as class j (label_names' order)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    confusion = np.zeros((len(label_names), len(label_names)), dtype="int64")
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {}
    for i, name in enumerate(label_names):
        true_positives = int(((predictions == i) & (labels == i)).sum())
        predicted, support = int((predictions == i).sum()), int((labels == i).sum())
        precision = true_positives / predicted if predicted else 0.0
        recall = true_positives / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
                           "support": support}
    return {"accuracy": float((predictions == labels).mean()),
            "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 6), "per_class": per_class,
            "confusion": confusion.tolist()}


def mcnemar_exact(a_correct, b_correct):
    """Two-sided exact McNemar p-value for two classifiers scored on the same examples (boolean arrays).

    Only the discordant pairs count: b = a right and b wrong, c = the reverse; under "no difference" b ~ Bin(b+c, 1/2).
    """
    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a, only_b = int((a_correct & ~b_correct).sum()), int((~a_correct & b_correct).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    p = 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return {"only_a": only_a, "only_b": only_b, "p_value": min(1.0, p)}
