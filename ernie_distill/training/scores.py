"""Classification scores: accuracy, per-class precision/recall/F1 with their macro mean (accuracy hides a rare class;
macro-F1 does not), and the exact McNemar test for comparing two classifiers on the same examples."""
from math import comb

import numpy as np

# guessing_check: accuracy this close to the majority-class rate, or one class predicted for this share of the texts
GUESSING_MARGIN, ONE_CLASS_SHARE = 0.05, 0.9


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
                           "support": support, "predicted": predicted}
    return {"accuracy": float((predictions == labels).mean()),
            "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 6), "per_class": per_class,
            "confusion": confusion.tolist()}


def guessing_check(scores, hint, margin=GUESSING_MARGIN, one_class_share=ONE_CLASS_SHARE):
    """Is a dev result (classification_scores) barely better than guessing? Yes when its accuracy is within `margin`
    (or half the way from it to 100%, when that is less) of the majority-class rate (what always answering the most
    frequent class scores), or when one class is predicted for at least `one_class_share` of the texts, more often
    than it occurs by `margin`.
    {"majority_rate", "top_predicted_share", "warning"}: the warning (None when the model learnt) says which, with
    the rate, and `hint`: what to try."""
    per_class = scores["per_class"]
    total = sum(c["support"] for c in per_class.values())
    majority_name, majority = max(per_class.items(), key=lambda item: item[1]["support"])
    top_name, top = max(per_class.items(), key=lambda item: item[1].get("predicted", 0))
    majority_rate, top_share = majority["support"] / total, top.get("predicted", 0) / total
    margin = min(margin, (1 - majority_rate) / 2)  # 95% of one class: 97.5% is more than guessing
    problems = []
    if scores["accuracy"] < majority_rate + margin:
        problems.append(f"dev accuracy {scores['accuracy']:.2%} is within {round(margin * 100, 1):g} points of the "
                        f"majority-class rate {majority_rate:.2%} (always answering {majority_name!r})")
    if top_share >= one_class_share and top_share > per_class[top_name]["support"] / total + margin:
        problems.append(f"it predicts {top_name!r} for {top_share:.0%} of the dev texts (majority-class rate "
                        f"{majority_rate:.2%})")
    warning = f"barely better than guessing: {'; '.join(problems)}. Try {hint}" if problems else None
    return {"majority_rate": round(majority_rate, 6), "top_predicted_share": round(top_share, 6), "warning": warning}


def mcnemar_exact(a_correct, b_correct):
    """Two-sided exact McNemar p-value for two classifiers scored on the same examples (boolean arrays).

    Only the discordant pairs count: b = a right and b wrong, c = the reverse; under "no difference" b ~ Bin(b+c, 1/2).
    """
    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a, only_b = int((a_correct & ~b_correct).sum()), int((~a_correct & b_correct).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    p = 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return {"only_a": only_a, "only_b": only_b, "p_value": min(1.0, p)}
