"""The transformer teacher: which PaddleNLP classes back each --model_type, loading, encoding and batched logits."""
import os

import numpy as np
import paddle
from paddlenlp.transformers import (
    BertForSequenceClassification,
    BertTokenizer,
    ErnieForSequenceClassification,
    ErnieGramConfig,
    ErnieGramForSequenceClassification,
    ErnieGramTokenizer,
    ErnieTokenizer,
)
from paddlenlp.utils.log import logger as paddlenlp_logger

from .atomic import read_json, write_json
from .data import task_spec
from .errors import InputError
from .log import logger

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


def load_pretrained(model_type, name_or_path, num_labels):
    """Model and tokenizer from a PaddleNLP name (downloaded) or a local directory."""
    model_class, tokenizer_class = model_classes(model_type)
    if os.path.isdir(name_or_path) or os.path.sep in name_or_path or name_or_path.startswith("."):
        check_model_dir(name_or_path)
    try:
        tokenizer = tokenizer_class.from_pretrained(name_or_path)
        model = model_class.from_pretrained(name_or_path, num_labels=num_labels, ignore_mismatched_sizes=True)
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelError(
            f"could not load {name_or_path!r} as {model_type}: {err}. A PaddleNLP model name needs internet access "
            "to download its weights; offline, pass a local directory (see scripts/make_tiny_teacher.py)."
        ) from None
    return model, tokenizer


def read_teacher_info(model_dir):
    """Check a fine-tuned teacher dir (run_glue.py's best_model) and return its teacher_info.json, cheaply."""
    check_model_dir(model_dir)
    info_path = os.path.join(model_dir, TEACHER_INFO)
    if not os.path.isfile(info_path):
        raise ModelError(f"{model_dir} has no {TEACHER_INFO}; pass the best_model directory written by run_glue.py")
    return read_json(info_path)


def load_teacher(model_dir):
    """A fine-tuned teacher saved by run_glue.py (`best_model`): model in eval mode, tokenizer and its info."""
    info = read_teacher_info(model_dir)
    model_class, tokenizer_class = model_classes(info["model_type"])
    model = model_class.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer_class.from_pretrained(model_dir), info


# Shapes for random-init teachers: "tiny" for tests and quick runs, "base" = ernie-gram-zh's architecture (99.9M
# parameters), whose speed and size are those of the real teacher, for benchmarks without the pretrained download.
RANDOM_TEACHER_SIZES = {
    "tiny": dict(hidden_size=64, num_layers=2, num_heads=2, vocab_size=None, max_positions=130),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, vocab_size=18018, max_positions=512),
}


def make_random_teacher(texts, output_dir, hidden_size=64, num_layers=2, num_heads=2, vocab_size=None,
                        max_positions=130, max_seq_length=128, seed=42, task_name="chnsenticorp"):
    """Write a random-init ERNIE-Gram with a character vocabulary built from `texts`, for offline runs and tests.

    vocab_size pads the vocabulary with [unused] tokens to that size. The directory is marked with RANDOM_INIT_MARKER
    so every later step says loudly that the teacher was never pretrained; its teacher_info.json lets export_model.py
    take it as it is (for speed benchmarks).
    """
    spec = task_spec(task_name)
    chars = sorted({ch for text in texts for ch in text.lower() if not ch.isspace()})
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + chars
    vocab += [f"[unused{i}]" for i in range(max(0, (vocab_size or 0) - len(vocab)))]
    os.makedirs(output_dir, exist_ok=True)
    vocab_file = os.path.join(output_dir, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    paddle.seed(seed)
    config = ErnieGramConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        embedding_size=hidden_size,  # ERNIE-Gram has no projection: embedding size must equal hidden size
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max(max_positions, max_seq_length + 2),
        num_labels=len(spec["labels"]),
    )
    model = ErnieGramForSequenceClassification(config)
    model.save_pretrained(output_dir)
    ErnieGramTokenizer(vocab_file=vocab_file).save_pretrained(output_dir)
    write_json(
        os.path.join(output_dir, RANDOM_INIT_MARKER),
        {"note": "random weights, not pretrained: accuracy says nothing about ERNIE-Gram", "vocab_size": len(vocab)},
    )
    write_json(os.path.join(output_dir, TEACHER_INFO), {
        "model_type": "ernie-gram", "init_from": "random", "pretrained": False, "task_name": task_name.lower(),
        "labels": spec["labels"], "label_names": spec["label_names"], "max_seq_length": max_seq_length,
        "dev_accuracy": None,
    })
    logger.info("wrote a RANDOM-INIT (untrained) ERNIE-Gram, %.1fM parameters, to %s",
                sum(p.size for p in model.parameters()) / 1e6, output_dir)
    return output_dir


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
def predict_logits(model, tokenizer, texts, max_seq_length, batch_size=64, progress=None):
    """Logits for all texts, batched by similar length (less padding); returned in input order."""
    model.eval()
    pairs = encode(tokenizer, texts, max_seq_length)
    order = np.argsort([len(ids) for ids, _ in pairs], kind="stable")
    logits = np.zeros((len(pairs), model.num_labels), dtype="float32")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        input_ids, token_type_ids = pad_batch([pairs[i] for i in rows], tokenizer.pad_token_id)
        out = model(paddle.to_tensor(input_ids), token_type_ids=paddle.to_tensor(token_type_ids))
        logits[rows] = out.numpy()
        if progress is not None:
            progress.update(len(rows))
    return logits
