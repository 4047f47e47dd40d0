"""Whatever teacher a user has, as one interface for distillation: word lists in, logits out.

Three kinds of directory are teachers:
  - run_glue.py's best_model (teacher_info.json beside PaddleNLP's save_pretrained files);
  - any PaddleNLP sequence-classification directory written by save_pretrained (config.json, weights, tokenizer):
    the model class comes from the config's `architectures`, the labels from the task;
  - an export_model.py deployment directory (manifest.json), teacher or student.
Each runs through the Predictor that serves exports, on the fastest backend (teacher_backend: int8 ONNX Runtime or
oneDNN bfloat16 for a transformer on a CPU; a student's compiled kernel), over texts sorted by length, with a
progress line; the first two kinds are exported for it once, into the cache. Augmented texts reach
each teacher with [MASK] written as that teacher's own mask token.
"""
import hashlib
import importlib.util
import os
import time
from dataclasses import dataclass

import numpy as np

from ..data.reading import DataError
from ..deploy.manifest import AUTO, MANIFEST_FILE, Manifest, sha256_of
from ..log import logger
from ..models.vocab import MASK, detokenize

KINDS = ("run_glue.py's best_model (teacher_info.json)",
         "a PaddleNLP save_pretrained directory (config.json, weights, tokenizer files)",
         "an export_model.py directory (manifest.json)")


@dataclass
class Teacher:
    path: str
    kind: str  # "fine_tuned", "save_pretrained" or "export"
    labels: list
    max_seq_length: int
    pretrained: object = None  # True, False, or None when unknown
    dev_accuracy: object = None
    model_type: str = ""
    task: object = None  # the task it labels for (a plain save_pretrained teacher takes its labels from it)

    def digest(self):
        """SHA-256 of the directory's files: the teacher's identity in caches and run fingerprints."""
        files = [name for name in sorted(os.listdir(self.path)) if os.path.isfile(os.path.join(self.path, name))]
        listing = "".join(f"{name}\t{sha256_of(os.path.join(self.path, name))}\n" for name in files)
        return hashlib.sha256(listing.encode()).hexdigest()[:20]

    def provenance(self):
        return {"dir": self.path, "kind": self.kind, "model_type": self.model_type, "pretrained": self.pretrained,
                "dev_accuracy": self.dev_accuracy}

    def backend(self, device, requested=AUTO):
        """The backend that runs this teacher: `requested`, or teacher_backend's choice for auto."""
        return teacher_backend(self, device) if requested == AUTO else requested

    def logits_fn(self, batch_size, device="cpu", cache_dir="./tmp/cache", chosen=AUTO):
        """word lists -> float32 logits, on `device`, on backend `chosen` (see backend()). A teacher that is no export
        is exported first, once, into CACHE_DIR/teacher-export-DIGEST[-int8]. The model is loaded on the first call
        only (a cache hit never loads it)."""
        def run(word_lists):
            from ..deploy.inference import Predictor

            model_dir = self.path if self.kind == "export" else self.export(cache_dir, chosen == "onnx-int8")
            predictor = Predictor(model_dir, chosen, device, batch_size=batch_size,
                                  max_seq_length=self.max_seq_length)
            logger.info("running teacher %s (%s) on %d texts: %s on backend %s", self.path, self.kind,
                        len(word_lists), device, predictor.backend)
            return logits_with_progress(predictor, texts_for(word_lists, predictor.encoder.mask_token))

        return run

    def export(self, cache_dir, int8=False):
        """This teacher exported for Paddle Inference (the static graph, oneDNN) and, with int8, quantized for ONNX
        Runtime, into the cache."""
        from ..deploy.export import ExportSettings, export

        path = os.path.join(cache_dir, f"teacher-export-{self.digest()}{'-int8' if int8 else ''}")
        if not os.path.isfile(os.path.join(path, MANIFEST_FILE)):
            logger.info("exporting teacher %s for the teacher pass into %s", self.path, path)
            export(ExportSettings(self.path, path, max_seq_length=self.max_seq_length, task=self.task,
                                  quantize="int8" if int8 else None))
        return path


def teacher_backend(teacher, device):
    """The fastest way to label a transfer set with `teacher` (measured on 2 cores here, docs/results.md). On a CPU a
    transformer runs dynamically quantized int8 on ONNX Runtime (2.9x float32 Paddle Inference; a teacher directory is
    exported so, an export only where it holds inference.int8.onnx), else oneDNN bfloat16 on a CPU with BF16
    instructions (1.8x), else Paddle Inference; on a GPU, Paddle Inference; a student, its compiled kernel (auto).
    Soft targets tolerate int8's and bfloat16's rounding (measured: the same labels on 99.8% of dev and more)."""
    manifest = Manifest.read(teacher.path) if teacher.kind == "export" else None
    if (manifest and manifest.kind == "student") or device != "cpu":
        return AUTO
    if manifest.has_backend("onnx-int8") if manifest else onnx_export_installed():
        return "onnx-int8"
    return "paddle-bf16" if cpu_has_bf16() else "paddle"


def onnx_export_installed():
    return all(importlib.util.find_spec(name) for name in ("paddle2onnx", "onnx", "onnxruntime"))


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


PROGRESS_EVERY_S = 10.0


def logits_with_progress(predictor, texts, chunk_batches=32):
    """predictor.logits over texts sorted by length (batches of one length waste nothing on padding), in chunks, with
    a progress line (texts, rate, ETA by characters left) every PROGRESS_EVERY_S seconds; in input order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    logits = np.zeros((len(texts), len(predictor.label_names)), dtype="float32")
    total_chars, done_chars = sum(len(t) for t in texts) or 1, 0
    started = last = time.time()
    chunk = predictor.batch_size * chunk_batches
    for start in range(0, len(order), chunk):
        rows = order[start:start + chunk]
        logits[rows] = predictor.logits([texts[i] for i in rows])
        done_chars += sum(len(texts[i]) for i in rows)
        now = time.time()
        if now - last >= PROGRESS_EVERY_S or start + chunk >= len(order):
            elapsed, done = now - started, min(start + chunk, len(order))
            logger.info("teacher logits: %d/%d texts, %.1f texts/s, eta %s", done, len(texts), done / elapsed,
                        time.strftime("%H:%M:%S", time.gmtime(elapsed * (total_chars - done_chars) / done_chars)))
            last = now
    return logits


def texts_for(word_lists, mask_token):
    return [detokenize([mask_token if w == MASK else w for w in words]) for words in word_lists]


def open_teacher(path, task):
    """The Teacher in `path`, checked against the task's labels; an error naming the path and the kinds accepted."""
    from ..models.teacher import TEACHER_INFO, ModelError, check_model_dir, plain_teacher_info, read_info

    if not os.path.isdir(path):
        raise ModelError(f"--teacher_dir {path} does not exist")
    if os.path.isfile(os.path.join(path, MANIFEST_FILE)):
        manifest = Manifest.read(path)
        teacher = Teacher(path, "export", list(manifest.labels), manifest.max_seq_length, manifest.pretrained,
                          manifest.dev_accuracy, manifest.model_type)
    elif os.path.isfile(os.path.join(path, TEACHER_INFO)):
        check_model_dir(path)
        info = read_info(os.path.join(path, TEACHER_INFO))
        missing = [key for key in ("labels", "max_seq_length", "model_type") if key not in info]
        if missing:
            raise ModelError(f"{path}/teacher_info.json has no {', '.join(missing)}: pass run_glue.py's best_model")
        teacher = Teacher(path, "fine_tuned", list(info["labels"]), info["max_seq_length"], info.get("pretrained"),
                          info.get("dev_accuracy"), info["model_type"])
    elif os.path.isfile(os.path.join(path, "config.json")):
        check_model_dir(path)
        info = plain_teacher_info(path, task)
        teacher = Teacher(path, "save_pretrained", info["labels"], info["max_seq_length"],
                          model_type=info["model_type"])
    else:
        raise ModelError(f"--teacher_dir {path} is no teacher this project knows; give one of: {'; '.join(KINDS)}")
    teacher.task = task
    if teacher.labels != list(task.labels):
        raise DataError(f"the teacher in {path} predicts labels {teacher.labels}, but task {task.name} has labels "
                        f"{list(task.labels)}: distil from a teacher fine-tuned on this task's labels")
    if teacher.pretrained is False:
        logger.warning("the teacher in %s was fine-tuned from RANDOM weights (not pretrained): it cannot show the real "
                       "gain of distillation", path)
    return teacher
