"""The Bi-LSTM student: one definition for training, export and tests, its config, and saving and loading it.

Tokens (characters by default) -> embedding -> Bi-LSTM over each row's true length -> masked max and mean pooling,
concatenated with the mean embedding of the text's bag of character n-grams and words (when the config has one)
-> ReLU layer -> logits. The bag makes the student robust out of domain; the Bi-LSTM reads word order.
"""
import os
from dataclasses import asdict, dataclass

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..atomic import read_json, write_json
from ..data.batching import length_sorted_batches
from ..log import logger
from ..training.scores import classification_scores
from .features import StudentInputs
from .vocab import SPECIAL_TOKENS

STUDENT_CONFIG = "student_config.json"
STUDENT_WEIGHTS = "model_state.pdparams"
STUDENT_INFO = "student_info.json"


@dataclass
class StudentConfig:
    """Everything needed to rebuild the student's layers; saved as student_config.json beside the weights."""

    vocab_size: int
    num_classes: int = 2
    embedding_dim: int = 200
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.3
    ngram_vocab_size: int = 0  # 0: no bag branch
    ngram_dim: int = 64

    def save(self, directory):
        write_json(os.path.join(directory, STUDENT_CONFIG), asdict(self))

    @classmethod
    def load(cls, directory):
        return cls(**read_json(os.path.join(directory, STUDENT_CONFIG)))


def adamw_decaying(model, learning_rate, total_steps, weight_decay, max_grad_norm, linear=True):
    """(optimizer, scheduler or None): the student's AdamW with gradient clipping, its rate decaying linearly to zero
    over total_steps (or constant: linear=False)."""
    scheduler = paddle.optimizer.lr.PolynomialDecay(learning_rate, total_steps, end_lr=0.0) if linear else None
    optimizer = paddle.optimizer.AdamW(learning_rate=scheduler or learning_rate, parameters=model.parameters(),
                                       weight_decay=weight_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(max_grad_norm))
    return optimizer, scheduler

class BiLSTMClassifier(nn.Layer):
    """See the module docstring; forward takes the arrays StudentInputs.batch makes."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, config.num_layers, direction="bidirect",
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        bag_dim = 0
        if config.ngram_vocab_size:
            self.ngram_embedding = nn.Embedding(config.ngram_vocab_size, config.ngram_dim, padding_idx=0)
            bag_dim = config.ngram_dim
        self.hidden = nn.Linear(4 * config.hidden_size + bag_dim, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_classes)

    def forward(self, input_ids, seq_len, ngram_ids=None):
        embedded = self.dropout(self.embedding(input_ids))
        outputs, _ = self.lstm(embedded, sequence_length=seq_len)  # [batch, time, 2 * hidden]; padding stays out
        mask = (paddle.arange(paddle.shape(input_ids)[1]).unsqueeze(0) < seq_len.unsqueeze(1)).unsqueeze(2)
        mask = paddle.cast(mask, outputs.dtype)
        # max pooling as a 1-d pool: paddle.max's backward takes seconds per batch on CPU (measured: 1.6 s vs 0.04 s)
        max_pooled = F.adaptive_max_pool1d((outputs * mask - (1.0 - mask) * 1e4).transpose([0, 2, 1]), 1).squeeze(2)
        mean_pooled = paddle.sum(outputs * mask, axis=1) / paddle.cast(seq_len, outputs.dtype).unsqueeze(1)
        parts = [max_pooled, mean_pooled]
        if ngram_ids is not None:  # the mean of the bag's embeddings; padding (id 0) embeds to zeros
            count = paddle.cast(paddle.sum(paddle.cast(ngram_ids != 0, "int64"), axis=1, keepdim=True), "float32")
            parts.append(paddle.sum(self.ngram_embedding(ngram_ids), axis=1) / paddle.clip(count, min=1.0))
        pooled = self.dropout(paddle.concat(parts, axis=1))
        return self.classifier(self.dropout(F.relu(self.hidden(pooled))))


def use_pretrained_embeddings(model, vocab, source):
    """Set the embedding rows of the vocabulary's tokens that `source` has (pretrained_vectors.read_vectors); the others
    keep their random initialisation. Returns the coverage, which is logged and stored with the student."""
    from .pretrained_vectors import read_vectors

    vectors = read_vectors(source, vocab.tokens[len(SPECIAL_TOKENS):], model.config.embedding_dim)
    weight = model.embedding.weight.numpy()
    for token, vector in vectors.items():
        weight[vocab.index[token]] = vector
    model.embedding.weight.set_value(weight)
    coverage = {"source": source, "found": len(vectors), "vocab": len(vocab) - len(SPECIAL_TOKENS)}
    coverage["coverage"] = round(coverage["found"] / max(coverage["vocab"], 1), 4)
    logger.info("pretrained embeddings from %s: %d of the %d vocabulary tokens (%.1f%%); the others keep a random init",
                source, coverage["found"], coverage["vocab"], 100 * coverage["coverage"])
    return coverage


def num_parameters(model):
    return int(sum(p.size for p in model.parameters()))


@paddle.no_grad()
def student_logits(model, inputs, encoded, batch_size=128):
    """Logits for texts encoded by `inputs` (StudentInputs), batched by similar length; in input order."""
    model.eval()
    logits = np.zeros((len(encoded), model.config.num_classes), dtype="float32")
    for rows in length_sorted_batches([inputs.length(e) for e in encoded], batch_size):
        arrays = inputs.batch([encoded[i] for i in rows])
        logits[rows] = model(**{name: paddle.to_tensor(array) for name, array in arrays.items()}).numpy()
    return logits


def student_scores(model, inputs, encoded, labels, label_names):
    return classification_scores(student_logits(model, inputs, encoded).argmax(axis=1), labels, label_names)


def training_batches(inputs, encoded, batch_size, rng, word_dropout, ngram_dropout):
    """(arrays, row indices) per batch of similar-length texts; tokens become [UNK] with p word_dropout and bag
    entries are left out with p ngram_dropout, so the student cannot lean on a few frequent tokens or n-grams."""
    for rows in length_sorted_batches([inputs.length(e) for e in encoded], batch_size, rng):
        arrays = inputs.batch([encoded[i] for i in rows])
        ids = arrays["input_ids"]
        arrays["input_ids"] = np.where((rng.random(ids.shape) < word_dropout) & (ids != 0), inputs.vocab.unk_id, ids)
        if "ngram_ids" in arrays:
            arrays["ngram_ids"] = np.where(rng.random(arrays["ngram_ids"].shape) < ngram_dropout, 0,
                                           arrays["ngram_ids"])
        yield arrays, rows


def save_student(model, inputs, output_dir, info):
    """Weights, config, the inputs' vocabularies and settings, and info into output_dir (callers make it atomic)."""
    paddle.save(model.state_dict(), os.path.join(output_dir, STUDENT_WEIGHTS))
    model.config.save(output_dir)
    inputs.save(output_dir)
    write_json(os.path.join(output_dir, STUDENT_INFO), info)


def is_student_dir(model_dir):
    return os.path.isfile(os.path.join(model_dir, STUDENT_CONFIG))


def load_student(model_dir):
    """(model in eval mode, StudentInputs, info) from a directory written by save_student."""
    for name in (STUDENT_CONFIG, STUDENT_WEIGHTS, STUDENT_INFO):
        if not os.path.isfile(os.path.join(model_dir, name)):
            raise FileNotFoundError(f"{model_dir} is missing {name}; pass the best_model dir written by "
                                    "distill_lstm.py")
    model = BiLSTMClassifier(StudentConfig.load(model_dir))
    model.set_state_dict(paddle.load(os.path.join(model_dir, STUDENT_WEIGHTS)))
    model.eval()
    return model, StudentInputs.load(model_dir), read_json(os.path.join(model_dir, STUDENT_INFO))
