"""The student's word vocabulary."""
from ernie_distill.models.vocab import PAD, UNK, Vocab


def test_vocab_is_built_from_training_words_with_fallback_to_characters(corpus):
    vocab = Vocab.build(corpus, min_freq=2, max_size=50)
    assert vocab.tokens[:2] == [PAD, UNK] and len(vocab) == 50
    counts = {w: sum(words.count(w) for words in corpus) for w in vocab.tokens[3:]}
    assert min(counts.values()) >= 2
    assert vocab.encode(["好"], 10) == [vocab.index["好"]]
    # an unknown word is spelled out in known characters instead of becoming one [UNK]
    assert vocab.encode(["好好好看"], 10) == [vocab.index["好"]] * 3 + [vocab.unk_id]
    assert vocab.encode([], 10) == [vocab.unk_id]
