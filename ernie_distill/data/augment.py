"""Data augmentation of Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks").

Each word of a training example is, independently:
  - masked (replaced by [MASK]) with probability p_mask,
  - or replaced by another word with the same part of speech with probability p_pos, sampled from the corpus's
    unigram distribution restricted to that tag (jieba's POS tags), so the training distribution is preserved,
  - or kept.
Then, with probability p_ng, only a random n-gram (n in 1..max_ngram) of the result is kept.
Texts made this way have no gold label: the teacher's logits are their targets.
"""
from collections import Counter, defaultdict

import jieba.posseg
import numpy as np

from ..models.vocab import MASK

_TAG_CACHE = {}


def pos_tags(words):
    """jieba POS tag of each word: the dictionary's tag, else the tag jieba gives the word on its own."""
    for word in words:
        if word not in _TAG_CACHE:
            tag = jieba.posseg.dt.word_tag_tab.get(word)
            if tag is None:
                pairs = jieba.posseg.lcut(word)
                tag = pairs[0].flag if len(pairs) == 1 else "x"
            _TAG_CACHE[word] = tag
    return [_TAG_CACHE[word] for word in words]


class Augmenter:
    def __init__(self, token_lists, p_mask=0.1, p_pos=0.1, p_ng=0.25, max_ngram=5):
        if p_mask + p_pos > 1:
            raise ValueError("p_mask + p_pos must be at most 1")
        self.p_mask, self.p_pos, self.p_ng, self.max_ngram = p_mask, p_pos, p_ng, max_ngram
        counts = Counter(w for words in token_lists for w in words)
        by_tag = defaultdict(list)
        for word in sorted(counts):
            by_tag[pos_tags([word])[0]].append(word)
        self.tag_of = {w: t for t, ws in by_tag.items() for w in ws}
        self.candidates = {
            tag: (words, np.cumsum([counts[w] for w in words]) / sum(counts[w] for w in words))
            for tag, words in by_tag.items()
        }

    def same_pos_word(self, word, rng):
        words, cumulative = self.candidates[self.tag_of[word]]
        return words[min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(words) - 1)]

    def augment(self, words, rng):
        """One synthetic example from a word list."""
        draws = rng.random(len(words))
        out = [
            MASK if x < self.p_mask else self.same_pos_word(w, rng) if x < self.p_mask + self.p_pos else w
            for w, x in zip(words, draws)
        ]
        if rng.random() < self.p_ng:
            n = int(rng.integers(1, self.max_ngram + 1))
            if n < len(out):
                start = int(rng.integers(0, len(out) - n + 1))
                out = out[start : start + n]
        return out

    def transfer_set(self, token_lists, labels, n_iter, seed):
        """Originals (with labels) followed by up to n_iter distinct synthetic copies of each (label -1)."""
        rng = np.random.default_rng(seed)
        seen = {tuple(words) for words in token_lists}
        words_out, labels_out = list(token_lists), list(labels)
        for words in token_lists:
            for _ in range(n_iter):
                new = self.augment(words, rng)
                if new and tuple(new) not in seen:
                    seen.add(tuple(new))
                    words_out.append(new)
                    labels_out.append(-1)
        return words_out, labels_out
