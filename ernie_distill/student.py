"""The Bi-LSTM student: one definition for training, export and tests, its config, and saving and loading it."""
import os
from dataclasses import asdict, dataclass

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .atomic import read_json, write_json
from .batching import length_sorted_batches
from .scores import classification_scores
from .vocab import Vocab, pad_ids

STUDENT_CONFIG = "student_config.json"
STUDENT_WEIGHTS = "model_state.pdparams"
STUDENT_VOCAB = "vocab.txt"
STUDENT_INFO = "student_info.json"


@dataclass
class StudentConfig:
    """Everything needed to rebuild the student's layers; saved as student_config.json beside the weights."""

    vocab_size: int
    num_classes: int = 2
    embedding_dim: int = 200
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.3

    def save(self, directory):
        write_json(os.path.join(directory, STUDENT_CONFIG), asdict(self))

    @classmethod
    def load(cls, directory):
        return cls(**read_json(os.path.join(directory, STUDENT_CONFIG)))


class BiLSTMClassifier(nn.Layer):
    """embedding -> Bi-LSTM over each row's true length -> masked max+mean pooling -> ReLU layer -> logits."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, config.num_layers, direction="bidirect",
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.hidden = nn.Linear(4 * config.hidden_size, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_classes)

    def forward(self, input_ids, seq_len):
        embedded = self.dropout(self.embedding(input_ids))
        outputs, _ = self.lstm(embedded, sequence_length=seq_len)  # [batch, time, 2 * hidden]; padding stays out
        mask = (paddle.arange(paddle.shape(input_ids)[1]).unsqueeze(0) < seq_len.unsqueeze(1)).unsqueeze(2)
        mask = paddle.cast(mask, outputs.dtype)
        # max pooling as a 1-d pool: paddle.max's backward takes seconds per batch on CPU (measured: 1.6 s vs 0.04 s)
        max_pooled = F.adaptive_max_pool1d((outputs * mask - (1.0 - mask) * 1e4).transpose([0, 2, 1]), 1).squeeze(2)
        mean_pooled = paddle.sum(outputs * mask, axis=1) / paddle.cast(seq_len, outputs.dtype).unsqueeze(1)
        pooled = self.dropout(paddle.concat([max_pooled, mean_pooled], axis=1))
        return self.classifier(self.dropout(F.relu(self.hidden(pooled))))


def num_parameters(model):
    return int(sum(p.size for p in model.parameters()))


@paddle.no_grad()
def student_logits(model, id_lists, batch_size=128):
    """Logits for encoded texts, batched by similar length; in input order."""
    model.eval()
    logits = np.zeros((len(id_lists), model.config.num_classes), dtype="float32")
    for rows in length_sorted_batches([len(ids) for ids in id_lists], batch_size):
        logits[rows] = model(*map(paddle.to_tensor, pad_ids([id_lists[i] for i in rows]))).numpy()
    return logits


def student_scores(model, id_lists, labels, label_names):
    return classification_scores(student_logits(model, id_lists).argmax(axis=1), labels, label_names)


def save_student(model, vocab, output_dir, info):
    """Weights, config, vocabulary and info into output_dir (callers make this atomic)."""
    paddle.save(model.state_dict(), os.path.join(output_dir, STUDENT_WEIGHTS))
    model.config.save(output_dir)
    vocab.save(os.path.join(output_dir, STUDENT_VOCAB))
    write_json(os.path.join(output_dir, STUDENT_INFO), info)


def is_student_dir(model_dir):
    return os.path.isfile(os.path.join(model_dir, STUDENT_CONFIG))


def load_student(model_dir):
    """(model in eval mode, vocab, info) from a directory written by save_student."""
    for name in (STUDENT_CONFIG, STUDENT_WEIGHTS, STUDENT_VOCAB, STUDENT_INFO):
        if not os.path.isfile(os.path.join(model_dir, name)):
            raise FileNotFoundError(f"{model_dir} is missing {name}; pass the best_model dir written by distill_lstm.py")
    model = BiLSTMClassifier(StudentConfig.load(model_dir))
    model.set_state_dict(paddle.load(os.path.join(model_dir, STUDENT_WEIGHTS)))
    model.eval()
    return model, Vocab.load(os.path.join(model_dir, STUDENT_VOCAB)), read_json(os.path.join(model_dir, STUDENT_INFO))
