"""The distillation transfer set (training texts + augmented copies) with the teacher's logits, cached on disk.

The teacher runs once per (teacher weights, training data, augmentation settings): the cache key hashes all three,
so a second run with the same key never loads the teacher.
"""
import gzip
import hashlib
import json
import os

import numpy as np

from .atomic import save_dir_atomically
from .augment import Augmenter
from .data import DataError
from .log import logger

EXAMPLES_FILE, LOGITS_FILE = "examples.json.gz", "teacher_logits.npy"


def cache_key(teacher_dir, token_lists, labels, settings):
    digest = hashlib.sha256()
    for name in sorted(os.listdir(teacher_dir)):
        path = os.path.join(teacher_dir, name)
        if os.path.isfile(path):
            digest.update(name.encode())
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    digest.update(json.dumps([token_lists, labels, settings], ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def load_or_build(cache_dir, key, token_lists, labels, settings, teacher_logits_fn):
    """(word lists, labels with -1 for synthetic rows, teacher logits), from the cache or built and cached now.

    teacher_logits_fn(word_lists) -> float32 [n, num_classes]; it is only called on a cache miss.
    """
    path = os.path.join(cache_dir, f"transfer-{key}")
    if os.path.isfile(os.path.join(path, LOGITS_FILE)):
        logger.info("transfer set and teacher logits from cache %s", path)
        with gzip.open(os.path.join(path, EXAMPLES_FILE), "rt", encoding="utf-8") as f:
            examples = json.load(f)
        return examples["words"], examples["labels"], np.load(os.path.join(path, LOGITS_FILE))

    augmenter = Augmenter(token_lists, settings["p_mask"], settings["p_pos"], settings["p_ng"], settings["max_ngram"])
    words, all_labels = augmenter.transfer_set(token_lists, labels, settings["n_iter"], settings["seed"])
    logger.info("transfer set: %d originals + %d augmented examples; running the teacher on all of them",
                len(token_lists), len(words) - len(token_lists))
    logits = np.asarray(teacher_logits_fn(words), dtype="float32")

    def write(tmp_dir):
        with gzip.open(os.path.join(tmp_dir, EXAMPLES_FILE), "wt", encoding="utf-8") as f:
            json.dump({"words": words, "labels": all_labels, "settings": settings}, f, ensure_ascii=False)
        np.save(os.path.join(tmp_dir, LOGITS_FILE), logits)

    save_dir_atomically(path, write)
    logger.info("cached in %s", path)
    return words, all_labels, logits


def distillation_targets(args, task, token_lists, labels):
    """(word lists, labels with -1 for synthetic rows, teacher logits, teacher provenance) for distill_lstm.py's args.

    The teacher must predict the task's labels; a random-init teacher is allowed (offline checks) but flagged.
    """
    from .teacher import read_teacher_info, teacher_logits_fn  # PaddleNLP is only imported when distilling

    info = read_teacher_info(args.teacher_dir)
    if list(info["labels"]) != list(task.labels):
        raise DataError(f"the teacher in {args.teacher_dir} predicts labels {info['labels']}, but task {task.name} "
                        f"has labels {list(task.labels)}: distil from a teacher fine-tuned on this task's labels")
    if not info.get("pretrained", True):
        logger.warning("the teacher in %s was fine-tuned from RANDOM weights (not pretrained): it cannot show "
                       "the real gain of distillation", args.teacher_dir)
    settings = dict(n_iter=args.n_iter, p_mask=args.p_mask, p_pos=args.p_pos, p_ng=args.p_ng,
                    max_ngram=args.max_ngram, seed=args.seed, teacher_max_seq_length=info["max_seq_length"])
    key = cache_key(args.teacher_dir, token_lists, labels, settings)
    run_teacher = teacher_logits_fn(args.teacher_dir, info["max_seq_length"], args.teacher_batch_size)
    words, all_labels, logits = load_or_build(args.cache_dir, key, token_lists, labels, settings, run_teacher)
    provenance = {"dir": args.teacher_dir, "model_type": info["model_type"], "pretrained": info.get("pretrained"),
                  "dev_accuracy": info.get("dev_accuracy"), "cache_key": key}
    return words, all_labels, logits, provenance
