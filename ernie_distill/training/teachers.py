"""Whatever teacher a user has, as one interface for distillation: word lists in, logits out.

Three kinds of directory are teachers:
  - run_glue.py's best_model (teacher_info.json beside PaddleNLP's save_pretrained files);
  - any PaddleNLP sequence-classification directory written by save_pretrained (config.json, weights, tokenizer):
    the model class comes from the config's `architectures`, the labels from the task;
  - an export_model.py deployment directory (manifest.json), teacher or student, run through the same Predictor that
    serves it, with its default backend (auto: Paddle Inference, with oneDNN on a CPU, for a transformer; a student's
    compiled kernel on a CPU).
Augmented texts reach each teacher with [MASK] written as that teacher's own mask token.
"""
import hashlib
import os
from dataclasses import dataclass

from ..data.reading import DataError
from ..deploy.manifest import MANIFEST_FILE, Manifest, sha256_of
from ..log import logger
from ..models.vocab import MASK, detokenize

KINDS = ("run_glue.py's best_model (teacher_info.json)",
         "a PaddleNLP save_pretrained directory (config.json, weights, tokenizer files)",
         "an export_model.py directory (manifest.json)")
DEFAULT_TEACHER_MAX_SEQ_LENGTH = 128


@dataclass
class Teacher:
    path: str
    kind: str  # "fine_tuned", "save_pretrained" or "export"
    labels: list
    max_seq_length: int
    pretrained: object = None  # True, False, or None when unknown
    dev_accuracy: object = None
    model_type: str = ""

    def digest(self):
        """SHA-256 of the directory's files: the teacher's identity in caches and run fingerprints."""
        files = [name for name in sorted(os.listdir(self.path)) if os.path.isfile(os.path.join(self.path, name))]
        listing = "".join(f"{name}\t{sha256_of(os.path.join(self.path, name))}\n" for name in files)
        return hashlib.sha256(listing.encode()).hexdigest()[:20]

    def provenance(self):
        return {"dir": self.path, "kind": self.kind, "model_type": self.model_type, "pretrained": self.pretrained,
                "dev_accuracy": self.dev_accuracy}

    def logits_fn(self, batch_size, device="cpu"):
        """word lists -> float32 logits, on `device` (an export: on the Predictor's auto backend for it); the model is
        loaded on the first call only (a cache hit never loads it)."""
        def run(word_lists):
            logger.info("running teacher %s (%s) on %d texts (%s)", self.path, self.kind, len(word_lists), device)
            if self.kind == "export":
                from ..deploy.inference import Predictor

                predictor = Predictor(self.path, device=device, batch_size=batch_size,
                                      max_seq_length=self.max_seq_length)
                logger.info("teacher %s runs on backend %s (auto)", self.path, predictor.backend)
                return predictor.logits(texts_for(word_lists, predictor.encoder.mask_token))
            from tqdm import tqdm

            from ..models.teacher import load_classifier, predict_logits

            model, tokenizer = load_classifier(self.path, self.model_type)
            texts = texts_for(word_lists, tokenizer.mask_token)
            with tqdm(total=len(texts), desc="teacher logits", mininterval=5) as bar:
                return predict_logits(model, tokenizer, texts, self.max_seq_length, batch_size, bar)

        return run


def texts_for(word_lists, mask_token):
    return [detokenize([mask_token if w == MASK else w for w in words]) for words in word_lists]


def open_teacher(path, task):
    """The Teacher in `path`, checked against the task's labels; an error naming the path and the kinds accepted."""
    from ..models.teacher import TEACHER_INFO, ModelError, architecture_model_type, check_model_dir, read_info

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
        model_type, num_labels = architecture_model_type(path)
        if num_labels != len(task.labels):
            raise DataError(f"--teacher_dir {path} classifies into {num_labels} labels, but task {task.name} has "
                            f"{len(task.labels)} ({list(task.labels)})")
        teacher = Teacher(path, "save_pretrained", list(task.labels), DEFAULT_TEACHER_MAX_SEQ_LENGTH,
                          model_type=model_type)
    else:
        raise ModelError(f"--teacher_dir {path} is no teacher this project knows; give one of: {'; '.join(KINDS)}")
    if teacher.labels != list(task.labels):
        raise DataError(f"the teacher in {path} predicts labels {teacher.labels}, but task {task.name} has labels "
                        f"{list(task.labels)}: distil from a teacher fine-tuned on this task's labels")
    if teacher.pretrained is False:
        logger.warning("the teacher in %s was fine-tuned from RANDOM weights (not pretrained): it cannot show the real "
                       "gain of distillation", path)
    return teacher
