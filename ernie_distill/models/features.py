"""The student's inputs, from raw text: a token sequence for the Bi-LSTM and, optionally, a bag of n-grams and words.

Two token kinds: "chars" (every non-space character of the lower-cased text; needs no segmenter, and an unseen word is
still made of known characters) and "words" (as in Tang et al., by the segmenter in the settings; a word missing from
the vocabulary is spelled out in characters). The bag (fastText-style: the mean of the embeddings of the text's
character 1..n-grams and, optionally, its words) runs beside the Bi-LSTM; n-grams and words missing from its
vocabulary are left out.
Everything is built from the training texts and saved beside the model, so training, export, the teacher-free
deployment and the tests all read text the same way. No Paddle import here.

The literal "[MASK]" (written by the distillation's augmentation) is one token, the vocabulary's [MASK].

Serving speed: `encode_many` turns all the texts of a call into one array of code points; a compiled loop (numba)
packs each n-gram of up to 3 code points into one integer key (21 bits a code point) and looks it up in a hash table;
the bag's words are looked up straight from the segmenter's output. `_units` and `_bag` stay as the readable definition,
which building the vocabularies uses and the tests hold `encode_many` to.
"""
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from itertools import chain

import numpy as np

from ..atomic import read_json, write_json
from ..errors import InputError
from ..jit import njit_cached
from .vocab import MASK, SEGMENTERS, SPECIAL_TOKENS, Vocab, segment, tokenize

INPUTS_FILE, VOCAB_FILE, NGRAMS_FILE = "inputs.json", "vocab.txt", "ngrams.txt"
_MASK_CHAR = "\ue000"  # a private-use character stands for [MASK] while a text is cut into units
MAX_NGRAM = 3  # code points are 21 bits: n-grams up to 3 pack into one uint64 key
_CODE_POINT_BITS = 21
_NO_KEY = np.uint64(2**64 - 1)  # an empty slot of a _KeyTable: no packed n-gram is 2**64 - 1


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
    ngram_words: bool = True  # the bag also holds the text's words (as "w:WORD")
    segmenter: str = "rjieba"  # words for --tokens words and the bag; students saved before it existed used jieba


def _joined(text):
    """The lower-cased text without whitespace (str.split drops exactly what isspace() finds), [MASK] as one char."""
    return "".join(text.replace(MASK, _MASK_CHAR).lower().split())


def _head(text, n):
    """The start of `text` that holds its first `n` characters of _joined (whitespace not counted, [MASK] as one): what
    the bag reads, so that a long text's tail cannot change its inputs (predict.py truncates long texts)."""
    if len(text) <= n:
        return text
    count, i = 0, 0
    while i < len(text) and count < n:
        step = len(MASK) if text.startswith(MASK, i) else 1
        count += step > 1 or not text[i].isspace()
        i += step
    return text[:i]


def _code_points(strings):
    """The strings' code points end to end in one uint64 array, where each string starts, and each one's length."""
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    code_points = np.frombuffer("".join(strings).encode("utf-32-le", "surrogatepass"), np.uint32)
    return code_points.astype(np.uint64), np.cumsum(lengths) - lengths, lengths


@njit_cached(inline="always", nogil=True)
def _ngram_key(code_points, position, n):
    """The key of the n-gram at code_points[position:position + n]: its code points + 1 packed 21 bits apiece (+ 1: no
    digit is 0, so n-grams of different lengths never share a key)."""
    key = np.uint64(0)
    for k in range(n):
        key = (key << np.uint64(_CODE_POINT_BITS)) | (code_points[position + k] + np.uint64(1))
    return key


@njit_cached()
def _ngram_keys(code_points, starts, n):
    """The keys of the n-grams starting at `starts`."""
    keys = np.empty(len(starts), np.uint64)
    for i in range(len(starts)):
        keys[i] = _ngram_key(code_points, starts[i], n)
    return keys


class _KeyTable:
    """A bucketed cuckoo hash table of uint64 keys -> ids: a key sits in one of its two buckets of BUCKET keys, one
    cache line each, so a lookup reads at most two lines of keys (and one of ids when found). Filled to about 85%, the
    default student's 49,000 n-grams take 0.7 MB. (A dict of Python ints took 8x as long as one key a slot, a binary
    search 3x; one key a slot at a quarter full took 4 MB, whose cache misses cost a served text more than 100 us.)"""

    BUCKET = 8  # uint64 keys: 64 bytes
    MULTIPLIERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))  # odd constants: two hashes

    def __init__(self, keys, ids):
        buckets = max(1, -(-len(keys) * 20 // (17 * self.BUCKET)))  # 85% full
        while True:
            self.keys = _cache_aligned(np.full(buckets * self.BUCKET, _NO_KEY)).reshape(buckets, self.BUCKET)
            self.ids = np.full((buckets, self.BUCKET), -1, np.int32)
            if _fill(keys, ids, self.keys, self.ids, *self.MULTIPLIERS):
                return
            buckets += buckets // 10 + 1  # a key found no place: try again with more room


def _cache_aligned(array):
    """A copy of the 1-d array starting on a 64-byte boundary, so that each bucket is one cache line."""
    raw = np.empty(array.nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    aligned = raw[start : start + array.nbytes].view(array.dtype)
    aligned[:] = array
    return aligned


@njit_cached(nogil=True)
def _bucket(key, multiplier, buckets):
    """The bucket of a key for one of the two hashes: the top 32 bits of key * multiplier scaled to [0, buckets)."""
    return ((key * multiplier) >> np.uint64(32)) * np.uint64(buckets) >> np.uint64(32)


@njit_cached()
def _fill(keys, ids, table_keys, table_ids, first_multiplier, second_multiplier):
    """Cuckoo insertion of every key into the empty table: into a free slot of one of its buckets, else in place of a
    key of the bucket it did not just leave, which moves on in turn; False if a key found no place in 500 moves."""
    buckets = len(table_keys)
    for index in range(len(keys)):
        key, value, came_from = keys[index], np.int32(ids[index]), -1
        for move in range(500):
            first, second = _bucket(key, first_multiplier, buckets), _bucket(key, second_multiplier, buckets)
            if _put(table_keys, table_ids, first, key, value) or _put(table_keys, table_ids, second, key, value):
                break
            bucket, slot = second if first == came_from else first, (index + move) % table_keys.shape[1]
            key, table_keys[bucket, slot] = table_keys[bucket, slot], key
            value, table_ids[bucket, slot] = table_ids[bucket, slot], value
            came_from = bucket
        else:
            return False
    return True


@njit_cached()
def _put(table_keys, table_ids, bucket, key, value):
    """The key and its value into a free slot of the bucket; False if it has none."""
    for slot in range(table_keys.shape[1]):
        if table_keys[bucket, slot] == _NO_KEY:
            table_keys[bucket, slot], table_ids[bucket, slot] = key, value
            return True
    return False


@njit_cached(nogil=True)
def _bags(code_points, starts, lengths, n_max, table_keys, table_ids, first_multiplier, second_multiplier, word_ids,
          word_counts, unk_id):
    """Every text's bag ids end to end, and where each text's end: its n-grams (code_points[start:start + length])
    found in the _KeyTable for n = 1..n_max, its 1-grams in order, then its 2-grams, ..., then its word_counts[text]
    entries of word_ids; [UNK] for a text with none. (numpy took several passes over every window: 4x as long.)"""
    buckets, bucket_size = table_keys.shape
    ids = np.empty(int(lengths.sum()) * n_max + len(word_ids) + len(starts), np.int64)
    ends = np.empty(len(starts), np.int64)
    found = word = 0
    for text in range(len(starts)):
        start, length, first = starts[text], lengths[text], found
        for n in range(1, n_max + 1):
            for position in range(start, start + length - n + 1):
                key = _ngram_key(code_points, position, n)
                for multiplier in (first_multiplier, second_multiplier):
                    bucket = _bucket(key, multiplier, buckets)
                    slot = -1
                    for candidate in range(bucket_size):
                        if table_keys[bucket, candidate] == key:
                            slot = candidate
                    if slot >= 0:
                        ids[found] = table_ids[bucket, slot]
                        found += 1
                        break
        ids[found : found + word_counts[text]] = word_ids[word : word + word_counts[text]]
        found += word_counts[text]
        word += word_counts[text]
        if found == first:
            ids[found] = unk_id
            found += 1
        ends[text] = found
    return ids[:found], ends


class StudentInputs:
    """text -> (token ids, n-gram ids); batches of them -> the arrays the model takes."""

    def __init__(self, settings, vocab, ngrams=None):
        if settings.ngram_max > MAX_NGRAM:
            raise InputError(f"this student was trained with --ngram_max {settings.ngram_max}, over the {MAX_NGRAM} "
                             "this version reads: retrain it with --ngram_max 3 or less")
        if settings.segmenter not in SEGMENTERS:
            raise InputError(f"inputs.json names the segmenter {settings.segmenter!r}, not one of {SEGMENTERS}: "
                             "retrain the student, or restore the inputs.json it was saved with")
        self.settings, self.vocab, self.ngrams = settings, vocab, ngrams

    @classmethod
    def build(cls, texts, settings):
        vocab = Vocab.build([cls._units(t, settings.tokens, settings.segmenter) for t in texts], settings.min_freq,
                            settings.max_size)
        ngrams = None
        if settings.ngram_max:
            ngrams = Vocab.build([cls._bag(t, settings) for t in texts], settings.ngram_min_freq,
                                 settings.ngram_max_size)
        return cls(settings, vocab, ngrams)

    @staticmethod
    def _units(text, kind, segmenter):
        if kind == "chars":
            return [MASK if c == _MASK_CHAR else c for c in _joined(text)]
        pieces = text.split(MASK)  # a segmenter would cut "[MASK]" apart
        words = tokenize(pieces[0], segmenter)
        for piece in pieces[1:]:
            words += [MASK] + tokenize(piece, segmenter)
        return words

    @classmethod
    def _bag(cls, text, settings):
        chars = _joined(text)[: settings.ngram_max_chars]
        bag = [chars[i : i + n] for n in range(1, settings.ngram_max + 1) for i in range(len(chars) - n + 1)
               if _MASK_CHAR not in chars[i : i + n]]
        if settings.ngram_words:
            head = _head(text, settings.ngram_max_chars)
            bag += ["w:" + word for word in cls._units(head, "words", settings.segmenter) if word != MASK]
        return bag

    def encode(self, text):
        return self.encode_many([text])[0]

    def encode_many(self, texts):
        """[(token ids, bag ids or None)] as int64 arrays: the ids of _units and of _bag's known entries, looked up for
        all the texts' code points at once (arrays, not lists: batches are padded from them without conversions)."""
        settings = self.settings
        code_points, starts, lengths = _code_points([_joined(text) for text in texts])
        words = None
        if settings.tokens == "words":
            words = [self._units(text, "words", settings.segmenter) for text in texts]
            ids = [np.array(self.vocab.encode(text_words, settings.max_seq_length), np.int64) for text_words in words]
        else:
            all_ids, most = self._char_ids[code_points], settings.max_seq_length
            unknown = np.array([self.vocab.unk_id], np.int64)
            ids = [all_ids[start : start + min(length, most)] if length else unknown
                   for start, length in zip(starts.tolist(), lengths.tolist())]
        if self.ngrams is None:
            return [(i, None) for i in ids]
        found = [[] for _ in texts]  # the ids of each text's words in the bag
        if settings.ngram_words:
            word_id, most = self._word_ids.get, settings.ngram_max_chars
            heads = [_head(text, most) for text in texts]
            segments = (map(self._segments, heads) if words is None else
                        [w if h is t else self._units(h, "words", settings.segmenter) for w, h, t in zip(words, heads, texts)])
            found = [[i for i in map(word_id, text_words) if i is not None] for text_words in segments]
        table = self._ngram_table
        bags, ends = _bags(code_points, starts, np.minimum(lengths, settings.ngram_max_chars), settings.ngram_max,
                           table.keys, table.ids, *table.MULTIPLIERS,
                           np.fromiter(chain.from_iterable(found), np.int64),
                           np.fromiter(map(len, found), np.int64, len(found)), self.ngrams.unk_id)
        ends = ends.tolist()
        return [(i, bags[begin:end]) for i, begin, end in zip(ids, [0] + ends, ends)]

    def _segments(self, text):
        """The words of _units(text, "words", ...) as the bag looks them up: with the whitespace runs (never an entry),
        which saves filtering them out, and without [MASK]."""
        if MASK not in text:
            return segment(text, self.settings.segmenter)
        return [w for piece in text.split(MASK) for w in segment(piece, self.settings.segmenter)]

    @cached_property
    def _char_ids(self):
        """Code point -> token id for every code point: [MASK] for its stand-in, [UNK] for characters never seen."""
        char_ids = np.full(0x110000, self.vocab.unk_id, dtype="int64")
        for token, i in self.vocab.index.items():
            if len(token) == 1:
                char_ids[ord(token)] = i
        char_ids[ord(_MASK_CHAR)] = self.vocab.mask_id
        return char_ids

    @cached_property
    def _ngram_table(self):
        """A _KeyTable of the bag's character n-grams, keyed by _ngram_key."""
        by_length = {n: [] for n in range(1, self.settings.ngram_max + 1)}
        for token, i in self.ngrams.index.items():
            if len(token) in by_length and token not in SPECIAL_TOKENS and token == _joined(token):
                by_length[len(token)].append((token, i))
        keys, ids = [], []
        for n, grams in by_length.items():
            code_points, starts, _ = _code_points([token for token, _ in grams])
            keys.append(_ngram_keys(code_points, starts, n))
            ids += [i for _, i in grams]
        return _KeyTable(np.concatenate(keys), np.array(ids, dtype="int64"))

    @cached_property
    def _word_ids(self):
        """Word -> id of the bag's word entries ("w:WORD")."""
        return {token[2:]: i for token, i in self.ngrams.index.items()
                if token.startswith("w:") and token != "w:" + MASK}

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
        settings = (InputSettings(**{"segmenter": "jieba", **read_json(path)}) if os.path.isfile(path)
                    else InputSettings("words", 128, ngram_max=0, segmenter="jieba"))
        ngrams = Vocab.load(os.path.join(directory, NGRAMS_FILE)) if settings.ngram_max else None
        return cls(settings, Vocab.load(os.path.join(directory, VOCAB_FILE)), ngrams)


def _pad(id_lists):
    out = np.zeros((len(id_lists), max(len(ids) for ids in id_lists)), dtype="int64")
    for row, ids in enumerate(id_lists):
        out[row, : len(ids)] = ids
    return out
