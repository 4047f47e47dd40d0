"""The transformer teacher: which PaddleNLP classes back each --model_type, loading, encoding and batched logits."""
import os
import pickle
import shutil
from dataclasses import dataclass

import numpy as np
import paddle
from paddlenlp.transformers import (
    BertForSequenceClassification,
    BertTokenizer,
    ErnieForSequenceClassification,
    ErnieGramForSequenceClassification,
    ErnieGramTokenizer,
    ErnieTokenizer,
)
from paddlenlp.utils.log import logger as paddlenlp_logger

from ..atomic import read_json, write_json
from ..data.batching import length_sorted_batches
from ..errors import InputError
from ..log import logger

paddlenlp_logger.set_level("WARNING")

# model_type -> (model class, tokenizer class). Swapping the teacher is one --model_type away.
MODEL_CLASSES = {
    "ernie-gram": (ErnieGramForSequenceClassification, ErnieGramTokenizer),  # ernie-gram-zh
    "ernie": (ErnieForSequenceClassification, ErnieTokenizer),  # ernie-1.0, ernie-3.0-medium-zh, ...
    "bert": (BertForSequenceClassification, BertTokenizer),  # bert-base-chinese
}
TEACHER_INFO = "teacher_info.json"  # written beside the weights: model type, labels, dev accuracy, provenance
RANDOM_INIT_MARKER = "random_init.json"  # present in a model dir whose weights were never pretrained
WEIGHT_FILES = ("model_state.pdparams", "model.safetensors")
DEFAULT_MAX_SEQ_LENGTH = 128  # the input length of a teacher that does not say its own


LOAD_ERRORS = (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError)  # what a damaged model raises


class ModelError(InputError):
    """A model directory or model type the scripts cannot use; the message says what is missing."""


def model_classes(model_type):
    if model_type not in MODEL_CLASSES:
        raise ModelError(f"unknown --model_type {model_type!r}; choose one of: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[model_type]


def check_model_dir(model_dir, need_weights=True):
    """Raise a ModelError naming the missing file when a local model directory is incomplete."""
    if not os.path.isdir(model_dir):
        raise ModelError(f"model directory {model_dir} does not exist")
    missing = []
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        missing.append("config.json")
    if need_weights and not any(os.path.isfile(os.path.join(model_dir, f)) for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not os.path.isfile(os.path.join(model_dir, "vocab.txt")):
        missing.append("vocab.txt (the tokenizer's vocabulary)")
    if missing:
        raise ModelError(f"model directory {model_dir} is missing {', '.join(missing)}")


def is_random_init(model_dir):
    return os.path.isfile(os.path.join(model_dir, RANDOM_INIT_MARKER))


def load_pretrained(model_type, name_or_path, num_labels, max_seq_length):
    """Model and tokenizer from a PaddleNLP name (downloaded) or a local directory; says loudly if never pretrained."""
    model_class, tokenizer_class = model_classes(model_type)
    if os.path.isdir(name_or_path) or os.path.sep in name_or_path or name_or_path.startswith("."):
        check_model_dir(name_or_path)
    try:
        tokenizer = tokenizer_class.from_pretrained(name_or_path)
        model = model_class.from_pretrained(name_or_path, num_labels=num_labels, ignore_mismatched_sizes=True)
    except LOAD_ERRORS as err:
        raise ModelError(
            f"could not load {name_or_path!r} as {model_type}: {err}. A PaddleNLP model name needs internet access "
            "to download its weights; offline, pass a local directory (see scripts/make_tiny_teacher.py), or fill "
            "PaddleNLP's cache $PPNLP_HOME/models/NAME/ (docs/teacher.md)."
        ) from None
    positions = model.config.max_position_embeddings
    if max_seq_length > positions:
        raise ModelError(f"--max_seq_length {max_seq_length} is over {name_or_path}'s {positions} positions; "
                         f"use at most {positions}")
    if is_random_init(name_or_path):
        logger.warning("!" * 100)
        logger.warning("%s holds RANDOM weights, not a pretrained model: this teacher is UNTRAINED and its accuracy "
                       "says nothing about ERNIE-Gram. Use it only to test the pipeline offline.", name_or_path)
        logger.warning("!" * 100)
    return model, tokenizer


@dataclass
class OptimizerSettings:
    """run_glue.py's optimizer flags."""

    learning_rate: float = 5e-5
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0


def adamw_with_warmup(model, settings, total_steps):
    """(optimizer, scheduler): AdamW with linear warm-up and decay, no weight decay on biases and norms, clipping."""
    from paddlenlp.transformers import LinearDecayWithWarmup

    scheduler = LinearDecayWithWarmup(settings.learning_rate, total_steps, settings.warmup_proportion)
    no_decay = {p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n}
    optimizer = paddle.optimizer.AdamW(learning_rate=scheduler, parameters=model.parameters(),
                                       weight_decay=settings.weight_decay, epsilon=settings.adam_epsilon,
                                       apply_decay_param_fun=lambda name: name not in no_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(settings.max_grad_norm))
    return optimizer, scheduler


def save_teacher(model, tokenizer, output_dir, info, init_from):
    """What export_model.py and distillation load: save_pretrained files, tokenizer, teacher_info.json (and the
    random-init marker, so an untrained teacher stays marked)."""
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    write_json(os.path.join(output_dir, TEACHER_INFO), info)
    if is_random_init(init_from):
        shutil.copy(os.path.join(init_from, RANDOM_INIT_MARKER), output_dir)


def architecture_model_type(model_dir):
    """(--model_type, num_labels) of a save_pretrained directory, from its config's `architectures`."""
    config = read_info(os.path.join(model_dir, "config.json"))
    by_class = {model_class.__name__: model_type for model_type, (model_class, _) in MODEL_CLASSES.items()}
    architecture = (config.get("architectures") or ["(none)"])[0]
    if architecture not in by_class:
        raise ModelError(f"{model_dir}/config.json: architecture {architecture} is not one of {', '.join(by_class)}")
    model_class = MODEL_CLASSES[by_class[architecture]][0]
    return by_class[architecture], model_class.config_class.from_pretrained(model_dir).num_labels


def load_classifier(model_dir, model_type):
    """Model (eval mode) and tokenizer from a local save_pretrained directory; a damaged one is a ModelError."""
    model_class, tokenizer_class = model_classes(model_type)
    try:
        model = model_class.from_pretrained(model_dir)
        tokenizer = tokenizer_class.from_pretrained(model_dir)
    except LOAD_ERRORS as err:
        raise ModelError(f"{model_dir}: could not load the model ({type(err).__name__}: {str(err)[:200]}); the files "
                         "are damaged or incomplete: copy or train it again") from None
    model.eval()
    return model, tokenizer


def read_info(path):
    """A JSON file beside a model (teacher_info.json, config.json), or a ModelError naming it."""
    try:
        return read_json(path)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: not readable JSON ({err}); write it again (or train the model again)") from None


def plain_teacher_info(model_dir, task=None):
    """What teacher_info.json would say of a plain PaddleNLP save_pretrained directory: the model type from its config's
    `architectures`, the labels of `task` (when given) or ids 0..N-1 named by the config's id2label, and
    DEFAULT_MAX_SEQ_LENGTH."""
    model_type, num_labels = architecture_model_type(model_dir)
    if task is not None and num_labels != len(task.labels):
        raise ModelError(f"{model_dir} classifies into {num_labels} labels, but task {task.name} has "
                         f"{len(task.labels)} ({list(task.labels)})")
    id2label = read_info(os.path.join(model_dir, "config.json")).get("id2label") or {}
    labels = list(task.labels) if task else [str(i) for i in range(num_labels)]
    names = list(task.label_names) if task else [str(id2label.get(str(i), i)) for i in range(num_labels)]
    return {"model_type": model_type, "labels": labels, "label_names": names,
            "max_seq_length": DEFAULT_MAX_SEQ_LENGTH, "pretrained": None}


def load_teacher(model_dir, task=None):
    """A teacher: run_glue.py's `best_model`, or a plain save_pretrained directory (plain_teacher_info, labels from
    `task` when given): model in eval mode, tokenizer and its info."""
    check_model_dir(model_dir)
    info_path = os.path.join(model_dir, TEACHER_INFO)
    info = read_info(info_path) if os.path.isfile(info_path) else plain_teacher_info(model_dir, task)
    return (*load_classifier(model_dir, info["model_type"]), info)


def encode(tokenizer, texts, max_seq_length):
    """Token ids and token type ids per text, truncated to max_seq_length."""
    encoded = tokenizer(list(texts), max_length=max_seq_length, truncation=True)
    return list(zip(encoded["input_ids"], encoded["token_type_ids"]))


def pad_batch(pairs, pad_id):
    """Right-pad (input_ids, token_type_ids) pairs into two int64 arrays."""
    width = max(len(ids) for ids, _ in pairs)
    input_ids = np.full((len(pairs), width), pad_id, dtype="int64")
    token_type_ids = np.zeros((len(pairs), width), dtype="int64")
    for row, (ids, types) in enumerate(pairs):
        input_ids[row, : len(ids)] = ids
        token_type_ids[row, : len(types)] = types
    return input_ids, token_type_ids


@paddle.no_grad()
def encoded_logits(model, pairs, pad_id, batch_size=64):
    """Logits for encoded (input_ids, token_type_ids) pairs, batched by similar length; in input order."""
    model.eval()
    logits = np.zeros((len(pairs), model.num_labels), dtype="float32")
    for rows in length_sorted_batches([len(ids) for ids, _ in pairs], batch_size):
        input_ids, token_type_ids = pad_batch([pairs[i] for i in rows], pad_id)
        logits[rows] = model(paddle.to_tensor(input_ids), token_type_ids=paddle.to_tensor(token_type_ids)).numpy()
    return logits


def predict_logits(model, tokenizer, texts, max_seq_length, batch_size=64):
    """Logits for raw texts, in dygraph (the tests' reference for the exported teacher)."""
    return encoded_logits(model, encode(tokenizer, texts, max_seq_length), tokenizer.pad_token_id, batch_size)

