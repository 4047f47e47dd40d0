"""The distillation transfer set (training texts, unlabeled texts, augmented copies) and the teachers' logits on it,
cached on disk.

`CACHE_DIR/transfer-KEY/` holds the set, KEY hashing the training data, the unlabeled texts and the augmentation
settings, and one logits file per teacher, named by a hash of the teacher's files: a second run never runs a teacher
again, and adding a teacher to an ensemble runs only the new one. Unlabeled texts (--unlabeled_file) are read, cleared
of duplicates (of each other, of the training texts and of every dev and test text) and sampled here; like the
augmented copies they have no label (-1), so they never enter the cross-entropy: the teachers' logits are their targets.
The set can be written out (--write_transfer_set) for a teacher on another machine, whose outputs come back as
--teacher_outputs (teacher_outputs.py).
"""
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..atomic import save_dir_atomically, write_file_atomically
from ..data.augment import Augmenter
from ..data.reading import DataError, load_splits, open_binary, text_windows
from ..deploy.inference import text_problem
from ..log import logger
from ..models.vocab import MASK, detokenize, tokenize
from .teacher_outputs import TeacherOutputs
from .teachers import open_teacher, texts_for

EXAMPLES_FILE = "examples.json.gz"
FORMAT = 2  # part of the key: caches written in another layout are never read


def set_key(token_lists, labels, settings, unlabeled=()):
    parts = [FORMAT, token_lists, labels, settings] + ([unlabeled] if unlabeled else [])
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_or_build_set(path, token_lists, labels, settings, unlabeled=()):
    """(word lists, labels with -1 for unlabeled and synthetic rows): the originals, the unlabeled texts, then the
    augmented copies (of the originals; of the unlabeled texts too with settings["augment_unlabeled"]), from `path` or
    built."""
    examples_path = os.path.join(path, EXAMPLES_FILE)
    if os.path.isfile(examples_path):
        with gzip.open(examples_path, "rt", encoding="utf-8") as f:
            examples = json.load(f)
        return examples["words"], examples["labels"]
    unlabeled, originals = list(unlabeled), len(token_lists)
    if settings.get("augment_unlabeled"):
        token_lists, labels = token_lists + unlabeled, labels + [-1] * len(unlabeled)
    augmenter = Augmenter(token_lists, settings["p_mask"], settings["p_pos"], settings["p_ng"], settings["max_ngram"])
    words, all_labels = augmenter.transfer_set(token_lists, labels, settings["n_iter"], settings["seed"])
    if not settings.get("augment_unlabeled"):  # the unlabeled texts go after the originals, before the copies
        words = words[:originals] + unlabeled + words[originals:]
        all_labels = all_labels[:originals] + [-1] * len(unlabeled) + all_labels[originals:]
    logger.info("transfer set: %d originals + %d unlabeled + %d augmented examples", originals, len(unlabeled),
                len(words) - originals - len(unlabeled))

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
    write_file_atomically(logits_path, lambda f: np.save(f, logits), mode="wb")
    return logits


@dataclass
class TransferSettings:
    """The transfer set (Tang et al.'s augmentation, unlabeled texts) and the teachers that label it: distill_lstm.py's
    flags."""

    teacher_dir: Optional[list] = None
    teacher_weights: Optional[list] = None  # one per teacher (dirs, then outputs), for the mean of their logits
    teacher_outputs: Optional[list] = None  # files of logits or probabilities made elsewhere (teacher_outputs.py)
    unlabeled_file: Optional[list] = None
    unlabeled_max: Optional[int] = None
    augment_unlabeled: bool = False
    n_iter: int = 5
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    max_ngram: int = 5
    seed: int = 42
    cache_dir: str = "./tmp/cache"
    teacher_batch_size: int = 64
    teacher_backend: str = "auto"  # teachers.teacher_backend's choice, or paddle, paddle-bf16 or onnx-int8
    device: str = "cpu"


def normalized(text):
    """A text with its whitespace runs as one space and its ends stripped: how duplicates are recognised."""
    return " ".join(text.split())


def read_unlabeled(settings, known_texts):
    """The texts of settings.unlabeled_file (one per line, or a TSV's text_a column, labels ignored), without blank
    lines, duplicates of each other and of `known_texts` (training, dev and test), sampled down to
    settings.unlabeled_max (seeded). A line that is not valid UTF-8 or holds no text is a DataError naming it."""
    seen, texts, stats = {normalized(t) for t in known_texts}, [], {"files": [], "read": 0, "duplicates": 0}
    for path in settings.unlabeled_file or []:
        before = stats["read"]
        with open_binary(path, f"--unlabeled_file {path}") as stream:
            for examples, problems in text_windows(stream, path, None, 8192):
                if problems:
                    raise DataError(f"{problems[0]} (--unlabeled_file: fix or remove the line)")
                for example in examples:
                    if not example.text.strip():
                        continue
                    problem = text_problem(example.text)
                    if problem:
                        raise DataError(f"{example.source}: {problem} (--unlabeled_file: fix or remove the line)")
                    stats["read"] += 1
                    key = normalized(example.text)
                    if key in seen:
                        stats["duplicates"] += 1
                    else:
                        seen.add(key)
                        texts.append(example.text)
        if stats["read"] == before:
            raise DataError(f"--unlabeled_file {path} holds no text: give one text per line, or a TSV with a text_a "
                            "column")
        stats["files"].append(os.path.abspath(path))
    if not texts:
        raise DataError(f"every text of --unlabeled_file {' '.join(settings.unlabeled_file)} is a duplicate of a "
                        "training, dev or test text (or of another): there is nothing new to distil on")
    if settings.unlabeled_max and len(texts) > settings.unlabeled_max:
        keep = np.random.default_rng(settings.seed).choice(len(texts), settings.unlabeled_max, replace=False)
        texts = [texts[i] for i in sorted(keep)]
    stats["used"] = len(texts)
    logger.info("unlabeled texts: %d read, %d duplicates left out, %d used", stats["read"], stats["duplicates"],
                len(texts))
    return texts, stats


@dataclass
class TransferSet:
    """The examples the student learns from: the texts it reads, the words a teacher reads (with [MASK]), labels (-1:
    none) and where the set and its teachers' logits are cached."""

    texts: list
    words: list
    labels: list
    path: str
    unlabeled_texts: list
    unlabeled_counts: dict  # read_unlabeled's counts ({} without unlabeled texts)

    def teacher_texts(self, mask_token=MASK):
        """The texts a teacher labels, [MASK] written as its own mask token: what --write_transfer_set writes."""
        return texts_for(self.words, mask_token)


def transfer_set_for(settings, task, splits, data_dir=None):
    """The TransferSet of a run: its training split, settings.unlabeled_file's texts (without duplicates of the
    training, dev and test texts) and the augmented copies."""
    texts, labels = [e.text for e in splits["train"]], [e.label for e in splits["train"]]
    unlabeled, counts = [], {}
    if settings.unlabeled_file:
        evaluation = splits["dev"] + load_splits(task, data_dir, ("test",)).get("test", [])
        unlabeled, counts = read_unlabeled(settings, texts + [e.text for e in evaluation])
    return build_transfer_set(settings, texts, labels, unlabeled, counts)


def build_transfer_set(settings, texts, labels, unlabeled=(), unlabeled_stats=None):
    """The TransferSet of the training texts and labels, the unlabeled texts and the augmentation settings."""
    originals, extra = [tokenize(t) for t in texts], [tokenize(t) for t in unlabeled]
    augmentation = dict(n_iter=settings.n_iter, p_mask=settings.p_mask, p_pos=settings.p_pos, p_ng=settings.p_ng,
                        max_ngram=settings.max_ngram, seed=settings.seed)
    if unlabeled:
        augmentation["augment_unlabeled"] = settings.augment_unlabeled
    path = os.path.join(settings.cache_dir, f"transfer-{set_key(originals, labels, augmentation, extra)}")
    words, all_labels = load_or_build_set(path, originals, list(labels), augmentation, extra)
    known = len(texts) + len(unlabeled)
    return TransferSet(list(texts) + list(unlabeled) + [detokenize(w) for w in words[known:]], words, all_labels, path,
                       list(unlabeled), unlabeled_stats or {})


def write_transfer_set(transfer, path):
    """The texts a teacher labels, one a line, for `predict.py --logits` or any program on another machine."""
    texts = transfer.teacher_texts()
    write_file_atomically(path, lambda f: f.write("".join(text + "\n" for text in texts)))
    logger.info("wrote the transfer set (%d texts, one a line) to %s; next: python predict.py --model_dir "
                "TEACHER_EXPORT --input_file %s --logits > outputs.jsonl, then the same command with --teacher_outputs "
                "outputs.jsonl instead of --write_transfer_set", len(texts), path, path)


def distillation_targets(settings, task, transfer):
    """(target logits, provenance) on a TransferSet: the (weighted) mean of the teachers' logits, each teacher a
    --teacher_dir (run here, cached) or a --teacher_outputs file; every teacher must predict the task's labels."""
    teachers = [open_teacher(path, task) for path in settings.teacher_dir or []]
    outputs = [TeacherOutputs.read(path, task) for path in settings.teacher_outputs or []]
    count = len(teachers) + len(outputs)
    weights = np.asarray(settings.teacher_weights or [1.0] * count, dtype="float32")
    if len(weights) != count or not weights.sum() > 0:
        raise DataError(f"--teacher_weights: give {count} non-negative weight(s), one per --teacher_dir then one per "
                        f"--teacher_outputs, not all zero (got {weights.tolist()})")
    digests = [teacher.digest() for teacher in teachers]
    backends = [teacher.backend(settings.device, settings.teacher_backend) for teacher in teachers]
    logits = [load_or_run_teacher(transfer.path, f"{digest}-{backend}", transfer.words,  # cached per backend
                                  teacher.logits_fn(settings.teacher_batch_size, settings.device, settings.cache_dir,
                                                    backend))
              for teacher, digest, backend in zip(teachers, digests, backends)]
    texts = transfer.teacher_texts() if outputs else None
    logits += [output.logits_for(texts) for output in outputs]
    targets = np.tensordot(weights / weights.sum(), np.stack(logits), axes=1).astype("float32")
    provenance = {"teachers": [t.provenance() for t in teachers] + [o.provenance() for o in outputs],
                  "weights": weights.tolist(), "backends": backends,
                  "pretrained": all(t.pretrained is not False for t in teachers) if teachers else None,
                  "cache": transfer.path, "teacher_digests": digests + [o.digest for o in outputs],
                  "unlabeled": transfer.unlabeled_counts}
    return targets, provenance


def training_set(settings, task, splits, data_dir, distilling):
    """What the student trains on: (texts, labels, teacher targets, teacher info, unlabeled texts). On hard labels the
    training split (no targets, no teacher); distilling, the transfer set and its teachers' logits."""
    if not distilling:
        return [e.text for e in splits["train"]], [e.label for e in splits["train"]], None, None, []
    transfer = transfer_set_for(settings, task, splits, data_dir)
    targets, teacher = distillation_targets(settings, task, transfer)
    return transfer.texts, transfer.labels, targets, teacher, transfer.unlabeled_texts
