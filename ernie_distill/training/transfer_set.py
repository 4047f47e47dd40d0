"""The distillation transfer set (training texts + augmented copies) and the teachers' logits on it, cached on disk.

`CACHE_DIR/transfer-KEY/` holds the set, KEY hashing the training data and the augmentation settings, and one logits
file per teacher, named by a hash of the teacher's files: a second run never runs a teacher again, and adding a
teacher to an ensemble runs only the new one.
"""
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..atomic import save_dir_atomically
from ..data.augment import Augmenter
from ..data.reading import DataError
from ..log import logger

EXAMPLES_FILE = "examples.json.gz"
FORMAT = 2  # part of the key: caches written in another layout are never read


def set_key(token_lists, labels, settings):
    blob = json.dumps([FORMAT, token_lists, labels, settings], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_or_build_set(path, token_lists, labels, settings):
    """(word lists, labels with -1 for synthetic rows): originals then augmented copies, from `path` or built."""
    examples_path = os.path.join(path, EXAMPLES_FILE)
    if os.path.isfile(examples_path):
        with gzip.open(examples_path, "rt", encoding="utf-8") as f:
            examples = json.load(f)
        return examples["words"], examples["labels"]
    augmenter = Augmenter(token_lists, settings["p_mask"], settings["p_pos"], settings["p_ng"], settings["max_ngram"])
    words, all_labels = augmenter.transfer_set(token_lists, labels, settings["n_iter"], settings["seed"])
    logger.info("transfer set: %d originals + %d augmented examples", len(token_lists), len(words) - len(token_lists))

    def write(tmp_dir):
        with gzip.open(os.path.join(tmp_dir, EXAMPLES_FILE), "wt", encoding="utf-8") as f:
            json.dump({"words": words, "labels": all_labels, "settings": settings}, f, ensure_ascii=False)

    save_dir_atomically(path, write)
    return words, all_labels


def load_or_run_teacher(path, name, words, logits_fn):
    """A teacher's logits on the set in `path`, cached as `path/logits-NAME.npy`; logits_fn runs on a miss only."""
    logits_path = os.path.join(path, f"logits-{name}.npy")
    if os.path.isfile(logits_path):
        logger.info("teacher logits from cache %s", logits_path)
        return np.load(logits_path)
    logits = np.asarray(logits_fn(words), dtype="float32")
    if logits.shape[0] != len(words):
        raise RuntimeError(f"the teacher gave {logits.shape[0]} rows of logits for {len(words)} texts")
    tmp = f"{logits_path}.tmp{os.getpid()}.npy"
    np.save(tmp, logits)
    os.replace(tmp, logits_path)
    return logits


@dataclass
class TransferSettings:
    """The transfer set (Tang et al.'s augmentation) and the teachers that label it: distill_lstm.py's flags."""

    teacher_dir: list
    teacher_weights: Optional[list] = None  # one per teacher, for the mean of their logits (default: equal)
    n_iter: int = 5
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    max_ngram: int = 5
    seed: int = 42
    cache_dir: str = "./tmp/cache"
    teacher_batch_size: int = 64
    device: str = "cpu"


def distillation_targets(settings, task, token_lists, labels):
    """(word lists, labels with -1 for synthetic rows, target logits, provenance) for a TransferSettings.

    The target is the (weighted) mean of the teachers' logits; every teacher must predict the task's labels.
    """
    from .teachers import open_teacher  # the teacher code (and PaddleNLP) is only imported when distilling

    teachers = [open_teacher(path, task) for path in settings.teacher_dir]
    weights = np.asarray(settings.teacher_weights or [1.0] * len(teachers), dtype="float32")
    if len(weights) != len(teachers) or not weights.sum() > 0:
        raise DataError(f"--teacher_weights: give {len(teachers)} non-negative weight(s), one per --teacher_dir, not "
                        f"all zero (got {weights.tolist()})")
    augmentation = dict(n_iter=settings.n_iter, p_mask=settings.p_mask, p_pos=settings.p_pos, p_ng=settings.p_ng,
                        max_ngram=settings.max_ngram, seed=settings.seed)
    path = os.path.join(settings.cache_dir, f"transfer-{set_key(token_lists, labels, augmentation)}")
    words, all_labels = load_or_build_set(path, token_lists, labels, augmentation)
    digests = [teacher.digest() for teacher in teachers]
    logits = [load_or_run_teacher(path, digest, words, teacher.logits_fn(settings.teacher_batch_size, settings.device))
              for teacher, digest in zip(teachers, digests)]
    targets = np.tensordot(weights / weights.sum(), np.stack(logits), axes=1).astype("float32")
    provenance = {"teachers": [t.provenance() for t in teachers], "weights": weights.tolist(),
                  "pretrained": all(t.pretrained is not False for t in teachers), "cache": path,
                  "teacher_digests": digests}
    return words, all_labels, targets, provenance


def distillation_texts(settings, task, texts, labels):
    """The transfer set as texts for the student (originals, then augmented copies with "[MASK]" where a word was
    masked), their labels (-1 for the copies), the target logits and the teachers' provenance."""
    from ..models.vocab import detokenize, tokenize

    words, all_labels, targets, provenance = distillation_targets(settings, task, [tokenize(t) for t in texts], labels)
    return texts + [detokenize(w) for w in words[len(texts):]], all_labels, targets, provenance
