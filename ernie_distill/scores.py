"""Classification scores: accuracy, and per-class precision/recall/F1 with their macro mean (accuracy hides a rare
class; macro-F1 does not)."""
import numpy as np


def classification_scores(predictions, labels, label_names):
    """{"accuracy", "macro_f1", "per_class": {name: {"precision", "recall", "f1", "support"}}} for id arrays."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
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
            "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 6), "per_class": per_class}
