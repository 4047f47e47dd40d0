"""Vocabularies built from the training texts, word segmentation, and padding.

A word missing from a word vocabulary falls back to its characters (most single characters are frequent enough to be
in it), so rare words and names still carry signal instead of all becoming [UNK]. Two segmenters: jieba, and rjieba
(jieba's dictionary and algorithm in Rust, about 14x faster; on the whole ChnSentiCorp corpus 99.8% of its words are
jieba's, the rest are runs such as "2008-11" or "1.5" it keeps whole). A student records the one it was trained with.
Each is imported on first use: a student without words is served without either.
"""
import logging
from collections import Counter
from functools import lru_cache

PAD, UNK, MASK = "[PAD]", "[UNK]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, MASK)  # ids 0, 1, 2


SEGMENTERS = ("rjieba", "jieba")


@lru_cache(maxsize=None)
def _segmenter(name):
    if name == "rjieba":
        import rjieba

        return rjieba.cut
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut


def segment(text, segmenter="jieba"):
    """The segmenter's pieces of the lower-cased text, whitespace runs among them."""
    return _segmenter(segmenter)(text.lower())


def tokenize(text, segmenter="jieba"):
    """The words of the lower-cased text by `segmenter` (one of SEGMENTERS), whitespace dropped."""
    return [w for w in segment(text, segmenter) if not w.isspace()]


def detokenize(words):
    """Words back to text for the teacher: Chinese joins without spaces, adjacent Latin words keep one."""
    out = []
    for word in words:
        if out and out[-1][-1:].isascii() and out[-1][-1:].isalnum() and word[:1].isascii() and word[:1].isalnum():
            out.append(" ")
        out.append(word)
    return "".join(out)


class Vocab:
    def __init__(self, tokens):
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.unk_id, self.mask_id = self.index[UNK], self.index[MASK]

    @classmethod
    def build(cls, token_lists, min_freq=2, max_size=30000):
        """Most frequent words (count >= min_freq), at most max_size entries including the special tokens."""
        counts = Counter(w for words in token_lists for w in words if w not in SPECIAL_TOKENS)
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(list(SPECIAL_TOKENS) + ranked[: max_size - len(SPECIAL_TOKENS)])

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(f.read().split("\n")[:-1])

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.tokens) + "\n")

    def __len__(self):
        return len(self.tokens)

    def encode(self, words, max_len):
        """Ids for a word list, unknown words spelled out in characters; never empty (an empty text gives [UNK])."""
        ids = []
        for word in words:
            if word in self.index:
                ids.append(self.index[word])
            else:
                ids.extend(self.index.get(ch, self.unk_id) for ch in word)
            if len(ids) >= max_len:
                break
        return ids[:max_len] or [self.unk_id]

