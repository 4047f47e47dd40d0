"""The student's inputs from raw text: characters, the bag of n-grams and words, [MASK], limits, saving."""
import json
import os

import pytest

from ernie_distill.models.features import InputSettings, StudentInputs
from ernie_distill.models.vocab import MASK, UNK

TEXTS = ["这家酒店服务很好，WiFi很快 😀", "房间太小了，服务一般", "服务很好，下次再来", "WiFi 太慢了 😡"] * 3


@pytest.fixture(scope="module")
def inputs():
    return StudentInputs.build(TEXTS, InputSettings(min_freq=1, ngram_min_freq=1, max_seq_length=8))


def test_characters_of_mixed_chinese_latin_and_emoji_text(inputs):
    units = inputs._units("WiFi 很快 😀!", "chars", "rjieba")
    assert units == ["w", "i", "f", "i", "很", "快", "😀", "!"]  # lower-cased, spaces dropped, emoji kept
    ids, _ = inputs.encode("WiFi 很快 😀")
    assert ids.tolist() == [inputs.vocab.index[c] for c in "wifi很快😀"]
    assert inputs.encode("酒店 ☃")[0][-1] == inputs.vocab.unk_id  # a character never seen in training


def test_bag_holds_character_ngrams_and_jieba_words_and_leaves_unknown_ones_out(inputs):
    bag = inputs._bag("服务很好", inputs.settings)
    assert {"服", "服务", "服务很", "务很好", "w:服务"} <= set(bag) and len([g for g in bag if len(g) == 1]) == 4
    _, grams = inputs.encode("服务很好☃☃☃")
    known = {inputs.ngrams.tokens[i] for i in grams}
    assert "服务" in known and not any("☃" in g for g in known)


def test_empty_and_very_long_texts(inputs):
    ids, grams = inputs.encode("")
    assert ids.tolist() == [inputs.vocab.unk_id] and grams.tolist() == [inputs.ngrams.unk_id]  # never an empty row
    long_text = "服务很好" * 500  # 2,000 characters
    ids, grams = inputs.encode(long_text)
    assert len(ids) == 8  # the Bi-LSTM reads --max_seq_length tokens
    bag = inputs._bag(long_text, inputs.settings)
    assert sum(not g.startswith("w:") for g in bag) == 512 + 511 + 510  # 1-3-grams of the first 512 characters
    assert sum(g.startswith("w:") for g in bag) == 384  # and their jieba words (服务, 很, 好), never the tail's
    assert 0 < len(grams) <= len(bag)


def test_mask_is_one_token_for_characters_and_words(inputs):
    assert inputs._units(f"服务{MASK}好", "chars", "rjieba") == ["服", "务", MASK, "好"]
    assert inputs._units(f"服务{MASK}很好", "words", "rjieba")[1] == MASK
    assert inputs.encode(f"服务{MASK}")[0][-1] == inputs.vocab.mask_id
    assert not any(MASK in g or "\ue000" in g for g in inputs._bag(f"服务{MASK}很好", inputs.settings))


def test_batches_pad_each_input_and_a_save_load_round_trip(inputs, tmp_path):
    encoded = [inputs.encode(t) for t in ("服务很好", "太慢")]
    arrays = inputs.batch(encoded)
    assert arrays["input_ids"].shape == (2, 4) and arrays["seq_len"].tolist() == [4, 2]
    assert arrays["ngram_ids"].shape[0] == 2 and arrays["ngram_ids"][1, -1] == 0  # the shorter bag is padded
    inputs.save(tmp_path)
    again = StudentInputs.load(tmp_path)
    assert again.settings == inputs.settings and as_lists(map(again.encode, TEXTS)) == as_lists(map(inputs.encode, TEXTS))


def test_a_word_level_student_of_format_1_loads_from_its_vocabulary_alone(tmp_path):
    (tmp_path / "vocab.txt").write_text(f"[PAD]\n{UNK}\n{MASK}\n服务\n很\n好\n", encoding="utf-8")
    old = StudentInputs.load(tmp_path)
    assert old.settings.tokens == "words" and old.ngrams is None and old.input_names == ["input_ids", "seq_len"]
    assert old.encode("服务很好")[0].tolist() == [3, 4, 5]


def as_lists(encoded):
    """encode()'s int64 arrays as lists, to compare with the readable definition."""
    return [(ids.tolist(), None if bag is None else bag.tolist()) for ids, bag in encoded]


def reference_encoding(inputs, text):
    """encode() spelled out with the readable definitions: _units, and _bag's entries looked up one by one."""
    settings = inputs.settings
    ids = inputs.vocab.encode(inputs._units(text, settings.tokens, settings.segmenter), settings.max_seq_length)
    index = inputs.ngrams.index
    return ids, [index[g] for g in inputs._bag(text, settings) if g in index] or [inputs.ngrams.unk_id]


EDGE_CASES = ["", "   ", f"{MASK}好{MASK}", "a\ue000b", "ＡＢＣ  İstanbul ẞ", "😀😀😀 abc", "\u3000好\n坏\t",
              "w:好", "2008-11-5 价格1.5元", "服务很好" * 300, f"服 务{MASK}很好\t" * 40]


@pytest.mark.parametrize("segmenter", ["jieba", "rjieba"])
def test_encode_many_equals_the_readable_definition(segmenter):
    from conftest import SENTENCES, fixture_texts

    texts = SENTENCES + fixture_texts() + EDGE_CASES
    inputs = StudentInputs.build(texts, InputSettings(min_freq=1, ngram_min_freq=1, max_seq_length=50,
                                                      ngram_max_chars=100, segmenter=segmenter))
    assert "w:好" in inputs.ngrams.index  # a 3-gram that spells a word entry maps to that entry, as in _bag
    assert as_lists(inputs.encode_many(texts)) == [reference_encoding(inputs, t) for t in texts]
    assert as_lists(map(inputs.encode, texts)) == as_lists(inputs.encode_many(texts))  # one text at a time takes a shorter path


def test_encode_many_equals_the_readable_definition_with_the_default_settings_on_unseen_texts():
    """The default settings (characters kept from 2 occurrences, n-grams from 5: rarer ones are unknown), built on the
    sentiment fixture's training texts, encoding those and texts it never saw: its dev texts and another domain's."""
    from conftest import FIXTURE_DIR, ROOT

    def texts_of(path):
        with open(path, encoding="utf-8") as f:
            return [line.rsplit("\t", 1)[1] for line in f.read().splitlines()[1:]]

    train = texts_of(os.path.join(FIXTURE_DIR, "train.tsv"))
    topics = os.path.join(ROOT, "tests", "fixtures", "topics")
    unseen = [texts_of(os.path.join(FIXTURE_DIR, "dev.tsv")),
              *(texts_of(os.path.join(topics, f"{split}.tsv")) for split in ("train", "dev"))]
    inputs = StudentInputs.build(train, InputSettings())
    texts = train + [t for split in unseen for t in split]
    encoded = [reference_encoding(inputs, t) for t in texts]
    assert as_lists(inputs.encode_many(texts)) == encoded
    assert any(inputs.vocab.unk_id in ids for ids, _ in encoded[len(train):])  # unseen texts meet unknown characters


def test_students_saved_before_the_segmenter_setting_keep_jieba(inputs, tmp_path):
    inputs.save(tmp_path)
    saved = json.loads((tmp_path / "inputs.json").read_text())
    del saved["segmenter"]
    (tmp_path / "inputs.json").write_text(json.dumps(saved))
    assert StudentInputs.load(tmp_path).settings.segmenter == "jieba"
    assert inputs.settings.segmenter == "rjieba"  # what new students use


@pytest.mark.parametrize("settings, message", [
    (InputSettings(ngram_max=4), "trained with --ngram_max 4, over the 3 this version reads: retrain"),
    (InputSettings(segmenter="pkuseg"), "inputs.json names the segmenter 'pkuseg'"),
])
def test_inputs_this_version_cannot_read_say_what_to_do(inputs, settings, message):
    from ernie_distill.errors import InputError

    with pytest.raises(InputError, match=message):
        StudentInputs(settings, inputs.vocab, inputs.ngrams)
