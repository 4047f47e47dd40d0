"""Tang et al.'s augmentation rules and the seeded, duplicate-free transfer set."""
import numpy as np

from ernie_distill.data.augment import Augmenter, pos_tags
from ernie_distill.models.vocab import MASK


def test_masking_masks_every_word_at_p_mask_1(corpus):
    augmenter = Augmenter(corpus, p_mask=1.0, p_pos=0.0, p_ng=0.0)
    words = corpus[0]
    assert augmenter.augment(words, np.random.default_rng(0)) == [MASK] * len(words)


def test_pos_replacement_keeps_each_words_part_of_speech(corpus):
    augmenter = Augmenter(corpus, p_mask=0.0, p_pos=1.0, p_ng=0.0)
    rng, changed = np.random.default_rng(0), 0
    for words in corpus[:20]:
        out = augmenter.augment(words, rng)
        assert len(out) == len(words) and pos_tags(out) == pos_tags(words)
        changed += sum(a != b for a, b in zip(out, words))
    assert changed > 20  # words really are replaced, not kept


def test_ngram_sampling_keeps_a_contiguous_span(corpus):
    augmenter = Augmenter(corpus, p_mask=0.0, p_pos=0.0, p_ng=1.0, max_ngram=5)
    rng = np.random.default_rng(0)
    lengths = set()
    for words in corpus[:30]:
        out = augmenter.augment(words, rng)
        assert 1 <= len(out) <= 5
        assert any(words[i : i + len(out)] == out for i in range(len(words) - len(out) + 1))
        lengths.add(len(out))
    assert len(lengths) > 2


def test_transfer_set_is_seeded_and_has_no_duplicates(corpus):
    augmenter = Augmenter(corpus)
    labels = list(range(len(corpus)))
    first = augmenter.transfer_set(corpus, labels, n_iter=5, seed=7)
    assert first == augmenter.transfer_set(corpus, labels, n_iter=5, seed=7)
    assert first != augmenter.transfer_set(corpus, labels, n_iter=5, seed=8)
    words, out_labels = first
    assert words[: len(corpus)] == corpus and out_labels[: len(corpus)] == labels  # originals keep their labels
    assert set(out_labels[len(corpus):]) == {-1} and len(words) > 3 * len(corpus)
    assert len({tuple(w) for w in words[len(corpus):]}) == len(words) - len(corpus)
