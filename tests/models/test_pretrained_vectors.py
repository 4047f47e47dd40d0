"""Pretrained vectors: word2vec text and binary give the same rows, only the vocabulary's are kept, a PaddleNLP
TokenEmbedding's .npz is streamed, and the student's embedding takes them."""
import os

import numpy as np
import pytest

from ernie_distill.models.pretrained_vectors import read_vectors

# word2vec text, as Tencent AI Lab's character vectors come: a "rows dims" header, then a character and its values
CHAR_VECTORS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "pretrained", "char_vectors_8d.txt")
WORDS = {"好": [0.5, -1.0, 2.0], "差": [1.0, 0.0, -0.25], "Hotel": [3.0, 3.0, 3.0], "hotel": [4.0, 4.0, 4.0],
         "别的": [9.0, 9.0, 9.0]}


def write_text(path, header=True):
    lines = [f"{len(WORDS)} 3"] if header else []
    path.write_text("\n".join(lines + [f"{w} {' '.join(map(str, v))} " for w, v in WORDS.items()]) + "\n",
                    encoding="utf-8")
    return str(path)


def write_binary(path):
    with open(path, "wb") as f:
        f.write(f"{len(WORDS)} 3\n".encode())
        for word, vector in WORDS.items():
            f.write(word.encode() + b" " + np.asarray(vector, "<f4").tobytes() + b"\n")
    return str(path)


@pytest.mark.parametrize("kind", ["text", "text without header", "binary"])
def test_only_the_vocabularys_rows_and_an_exact_match_before_a_lower_cased_one(tmp_path, kind):
    path = (write_binary(tmp_path / "v.bin") if kind == "binary"
            else write_text(tmp_path / "v.txt", header=kind == "text"))
    vectors = read_vectors(path, ["好", "差", "hotel", "缺"], 3)
    assert sorted(vectors) == ["hotel", "好", "差"]
    np.testing.assert_array_equal(vectors["hotel"], [4.0, 4.0, 4.0])  # "Hotel" came first, but "hotel" is exact
    np.testing.assert_array_equal(vectors["差"], np.asarray(WORDS["差"], "float32"))
    assert vectors["好"].dtype == np.float32


def test_a_truncated_binary_file_and_an_empty_one_are_errors(tmp_path):
    path = write_binary(tmp_path / "v.bin")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-8])
    with pytest.raises(ValueError, match="vector 5 of 5 is cut short"):
        read_vectors(path, ["好"], 3)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="holds no vectors"):
        read_vectors(str(tmp_path / "empty.txt"), ["好"], 3)
    with pytest.raises(ValueError, match="no such file, nor a PaddleNLP TokenEmbedding name"):
        read_vectors(str(tmp_path / "missing.txt"), ["好"], 3)


def test_a_token_embedding_name_streams_its_npz_from_paddlenlps_cache(tmp_path, monkeypatch):
    import paddlenlp.embeddings.token_embedding as token_embedding
    from paddlenlp.embeddings.constant import EMBEDDING_NAME_LIST

    import ernie_distill.models.pretrained_vectors as module

    name = EMBEDDING_NAME_LIST[0]
    monkeypatch.setattr(token_embedding, "EMBEDDING_HOME", str(tmp_path))
    monkeypatch.setattr(module, "NPZ_CHUNK_ROWS", 2)  # rows come in chunks: the table is never loaded whole
    np.savez(tmp_path / f"{name}.npz", vocab=np.array(list(WORDS)), embedding=np.array(list(WORDS.values()), "f4"))
    vectors = read_vectors(name, ["别的", "好"], 3)
    np.testing.assert_array_equal(vectors["别的"], [9.0, 9.0, 9.0])
    np.testing.assert_array_equal(vectors["好"], WORDS["好"])


def test_the_student_embedding_takes_the_rows_it_has(tmp_path):
    from ernie_distill.models.student import BiLSTMClassifier, StudentConfig, use_pretrained_embeddings
    from ernie_distill.models.vocab import Vocab

    vocab = Vocab(["[PAD]", "[UNK]", "[MASK]", "好", "缺", "hotel"])
    model = BiLSTMClassifier(StudentConfig(len(vocab), embedding_dim=3, hidden_size=4))
    before = model.embedding.weight.numpy().copy()
    coverage = use_pretrained_embeddings(model, vocab, write_text(tmp_path / "v.txt"))
    after = model.embedding.weight.numpy()
    assert coverage == {"source": str(tmp_path / "v.txt"), "found": 2, "vocab": 3, "coverage": 0.6667}
    np.testing.assert_array_equal(after[[3, 5]], [WORDS["好"], WORDS["hotel"]])
    np.testing.assert_array_equal(after[[0, 1, 2, 4]], before[[0, 1, 2, 4]])  # special tokens, missing token: kept


def test_a_word2vec_file_of_character_vectors_gives_each_characters_row():
    with open(CHAR_VECTORS, encoding="utf-8") as f:
        rows = {line.split(" ")[0]: [float(v) for v in line.split(" ")[1:]] for line in f.read().splitlines()[1:]}
    vectors = read_vectors(CHAR_VECTORS, list("这家酒店的服务非常好") + ["缺字"], 8)
    assert sorted(vectors) == sorted("这家酒店的服务非常好")
    for char, vector in vectors.items():
        assert vector.shape == (8,) and vector.dtype == np.float32
        np.testing.assert_array_equal(vector, np.asarray(rows[char], "float32"))
