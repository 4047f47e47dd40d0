"""The student's inputs, from raw text: a token sequence for the Bi-LSTM and, optionally, a bag of n-grams and words.

Two token kinds: "chars" (every non-space character of the lower-cased text; needs no segmenter, and an unseen word is
still made of known characters) and "words" (jieba words, as in Tang et al.; a word missing from the vocabulary is
spelled out in characters). The bag (fastText-style: the mean of the embeddings of the text's character 1..n-grams
and, optionally, its jieba words) runs beside the Bi-LSTM; n-grams and words missing from its vocabulary are left out.
Everything is built from the training texts and saved beside the model, so training, export, the teacher-free
deployment and the tests all read text the same way. No Paddle import here.

The literal "[MASK]" (written by the distillation's augmentation) is one token, the vocabulary's [MASK].
"""
import os
from dataclasses import asdict, dataclass

import numpy as np

from .atomic import read_json, write_json
from .vocab import MASK, Vocab, tokenize

INPUTS_FILE, VOCAB_FILE, NGRAMS_FILE = "inputs.json", "vocab.txt", "ngrams.txt"
_MASK_CHAR = "\ue000"  # a private-use character stands for [MASK] while a text is cut into units


@dataclass
class InputSettings:
    tokens: str = "chars"  # "chars" or "words"
    max_seq_length: int = 200  # tokens the Bi-LSTM reads
    min_freq: int = 2
    max_size: int = 30000
    ngram_max: int = 3  # the bag holds character 1..ngram_max-grams; 0: no bag
    ngram_min_freq: int = 5
    ngram_max_size: int = 55000
    ngram_max_chars: int = 512  # n-grams come from the first ngram_max_chars characters
    ngram_words: bool = True  # the bag also holds the text's jieba words (as "w:WORD")


def _chars(text):
    return [c for c in text.replace(MASK, _MASK_CHAR).lower() if not c.isspace()]


class StudentInputs:
    """text -> (token ids, n-gram ids); batches of them -> the arrays the model takes."""

    def __init__(self, settings, vocab, ngrams=None):
        self.settings, self.vocab, self.ngrams = settings, vocab, ngrams

    @classmethod
    def build(cls, texts, settings):
        vocab = Vocab.build([cls._units(t, settings.tokens) for t in texts], settings.min_freq, settings.max_size)
        ngrams = None
        if settings.ngram_max:
            ngrams = Vocab.build([cls._bag(t, settings) for t in texts], settings.ngram_min_freq,
                                 settings.ngram_max_size)
        return cls(settings, vocab, ngrams)

    @staticmethod
    def _units(text, kind):
        if kind == "chars":
            return [MASK if c == _MASK_CHAR else c for c in _chars(text)]
        pieces = text.split(MASK)  # jieba would cut "[MASK]" apart
        words = tokenize(pieces[0])
        for piece in pieces[1:]:
            words += [MASK] + tokenize(piece)
        return words

    @classmethod
    def _bag(cls, text, settings):
        chars = "".join(_chars(text))[: settings.ngram_max_chars]
        bag = [chars[i : i + n] for n in range(1, settings.ngram_max + 1) for i in range(len(chars) - n + 1)
               if _MASK_CHAR not in chars[i : i + n]]
        if settings.ngram_words:
            bag += ["w:" + word for word in cls._units(text, "words") if word != MASK]
        return bag

    def encode(self, text):
        ids = self.vocab.encode(self._units(text, self.settings.tokens), self.settings.max_seq_length)
        if self.ngrams is None:
            return ids, None
        index = self.ngrams.index
        return ids, [index[g] for g in self._bag(text, self.settings) if g in index] or [self.ngrams.unk_id]

    @staticmethod
    def length(encoded):
        return len(encoded[0])

    def batch(self, encoded):
        """{"input_ids" [batch, seq], "seq_len" [batch] (, "ngram_ids" [batch, n-grams])}, int64, 0-padded."""
        arrays = {"input_ids": _pad([ids for ids, _ in encoded]),
                  "seq_len": np.array([len(ids) for ids, _ in encoded], dtype="int64")}
        if self.ngrams is not None:
            arrays["ngram_ids"] = _pad([grams for _, grams in encoded])
        return arrays

    @property
    def mask_token(self):
        return MASK

    @property
    def input_names(self):
        return ["input_ids", "seq_len"] + (["ngram_ids"] if self.ngrams is not None else [])

    def save(self, directory):
        write_json(os.path.join(directory, INPUTS_FILE), asdict(self.settings))
        self.vocab.save(os.path.join(directory, VOCAB_FILE))
        if self.ngrams is not None:
            self.ngrams.save(os.path.join(directory, NGRAMS_FILE))

    @classmethod
    def load(cls, directory):
        """From a directory written by save(); one with only vocab.txt is a word-level student of format 1."""
        path = os.path.join(directory, INPUTS_FILE)
        settings = (InputSettings(**read_json(path)) if os.path.isfile(path)
                    else InputSettings("words", 128, ngram_max=0))
        ngrams = Vocab.load(os.path.join(directory, NGRAMS_FILE)) if settings.ngram_max else None
        return cls(settings, Vocab.load(os.path.join(directory, VOCAB_FILE)), ngrams)


def _pad(id_lists):
    out = np.zeros((len(id_lists), max(len(ids) for ids in id_lists)), dtype="int64")
    for row, ids in enumerate(id_lists):
        out[row, : len(ids)] = ids
    return out
