"""Texts, labels and jieba words of ChnSentiCorp train/dev and online_shopping_dev, for student_sweep_torch.py.

    python docs/experiments/prepare_sweep_data.py     # writes docs/experiments/data.json (git-ignored)
"""
import json
import os

from ernie_distill.data.reading import load_task, read_tsv
from ernie_distill.models.vocab import tokenize

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")

if __name__ == "__main__":
    task, out = load_task("ChnSentiCorp"), {}
    for name, path in [("train", "chnsenticorp/train.tsv"), ("dev", "chnsenticorp/dev.tsv"),
                       ("ood", "online_shopping_dev/dev.tsv")]:
        examples, _ = read_tsv(os.path.join(SHARED, path), task)
        out[name] = {"text": [e.text for e in examples], "label": [e.label for e in examples],
                     "words": [tokenize(e.text) for e in examples]}
    with open(os.path.join(HERE, "data.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
