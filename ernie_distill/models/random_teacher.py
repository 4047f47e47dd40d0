"""Random-init ERNIE-Gram teachers, for offline runs, tests and speed benchmarks without the pretrained download.

"tiny" is for tests and quick runs; "base" has ernie-gram-zh's exact architecture (99.9M parameters), so its speed and
size are the real teacher's while its accuracy means nothing. Every such directory is marked, and every later step
says loudly that it was never pretrained.
"""
import os

import paddle
from paddlenlp.transformers import ErnieGramConfig, ErnieGramForSequenceClassification, ErnieGramTokenizer

from ..atomic import write_json
from ..data.reading import load_task
from ..log import logger
from .teacher import RANDOM_INIT_MARKER, TEACHER_INFO

RANDOM_TEACHER_SIZES = {
    "tiny": dict(hidden_size=64, num_layers=2, num_heads=2, vocab_size=None, max_positions=130),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, vocab_size=18018, max_positions=512),
}


def make_random_teacher(texts, output_dir, hidden_size=64, num_layers=2, num_heads=2, vocab_size=None,
                        max_positions=130, max_seq_length=128, seed=42, task=None):
    """Write a random-init ERNIE-Gram with a character vocabulary built from `texts`, for offline runs and tests.

    vocab_size pads the vocabulary with [unused] tokens to that size. The directory is marked with RANDOM_INIT_MARKER
    so every later step says loudly that the teacher was never pretrained; its teacher_info.json lets export_model.py
    take it as it is (for speed benchmarks).
    """
    task = task or load_task("chnsenticorp")
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
        num_labels=len(task.labels),
    )
    model = ErnieGramForSequenceClassification(config)
    model.save_pretrained(output_dir)
    ErnieGramTokenizer(vocab_file=vocab_file).save_pretrained(output_dir)
    write_json(
        os.path.join(output_dir, RANDOM_INIT_MARKER),
        {"note": "random weights, not pretrained: accuracy says nothing about ERNIE-Gram", "vocab_size": len(vocab)},
    )
    write_json(os.path.join(output_dir, TEACHER_INFO), {
        "model_type": "ernie-gram", "init_from": "random", "pretrained": False, "task_name": task.name,
        "labels": list(task.labels), "label_names": list(task.label_names), "max_seq_length": max_seq_length,
        "dev_accuracy": None,
    })
    logger.info("wrote a RANDOM-INIT (untrained) ERNIE-Gram, %.1fM parameters, to %s",
                sum(p.size for p in model.parameters()) / 1e6, output_dir)
    return output_dir
