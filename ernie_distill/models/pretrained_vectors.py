"""Pretrained word or character vectors for the student's embedding (--pretrained_embeddings), read row by row.

Sources: a word2vec file, text (`word v1 ... vD` a line, an optional `COUNT DIM` header: Tencent AI Lab's and
Chinese-Word-Vectors' format) or binary (word2vec's `.bin`: a `COUNT DIM` header, then each word, a space and DIM
float32 values); or the name of a PaddleNLP TokenEmbedding (e.g. w2v.baidu_encyclopedia.target.word-word.dim300),
downloaded once into PaddleNLP's cache and streamed from its .npz. Only the rows of the student's own vocabulary are
kept, so a table of millions of words costs the memory of a few thousand rows (PaddleNLP's distill_lstm example loads
and trains the whole table: 300M parameters). A word matches exactly, else lower-cased (the student lower-cases).
"""
import os
import zipfile

import numpy as np

from ..data.reading import DataError

TEXT_BYTES = set(b"0123456789+-.eEinfINFa \t\r\n")  # what a text-format row's values are written with
NPZ_CHUNK_ROWS = 8192


def read_vectors(source, tokens, dim):
    """{token: float32 vector} for the `tokens` that `source` has; a DataError when the source's vectors are not `dim`
    wide (saying which --embedding_dim to pass) or a row is malformed (naming its line)."""
    if os.path.isfile(source):
        with open(source, "rb") as f:
            binary = _is_binary(f)
        rows = _binary_rows(source) if binary else _text_rows(source)
    elif os.path.exists(source):
        raise DataError(f"--pretrained_embeddings {source} is a directory; give a word2vec file or an embedding name")
    else:
        rows = _token_embedding_rows(source)
    wanted, found, lowered = set(tokens), {}, {}
    for where, word, width, values in rows:
        if width != dim:
            raise DataError(f"--pretrained_embeddings {source} holds {width}-dimensional vectors ({where}), not "
                            f"{dim}: pass --embedding_dim {width}")
        if word in wanted:
            found[word] = values()
        elif word.lower() in wanted and word.lower() not in lowered:
            lowered[word.lower()] = values()
    if not found and not lowered and not rows.seen_any:
        raise DataError(f"--pretrained_embeddings {source} holds no vectors")
    return {**lowered, **found}


class _Rows:
    """An iterator of (where, word, width, values()) that remembers whether it yielded anything."""

    def __init__(self, generator):
        self.generator, self.seen_any = generator, False

    def __iter__(self):
        for row in self.generator:
            self.seen_any = True
            yield row


def _header(line):
    """(count, dim) of a `COUNT DIM` header line, or None."""
    parts = line.split()
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else None


def _is_binary(f):
    """A header, then a word and bytes that are not a text row's digits: word2vec's binary format."""
    header = _header(f.readline().decode("utf-8", "replace"))
    if not header:
        return False
    first = f.readline(4096)
    values = first[first.find(b" ") + 1:][: 4 * header[1]]
    return not set(values) <= TEXT_BYTES


def _text_rows(path):
    def rows():
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                where = f"line {lineno}"
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    raise DataError(f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
                if lineno == 1 and _header(line):
                    continue
                if not line.strip():
                    continue
                word, _, rest = line.partition(" ")
                yield where, word, len(rest.split()), lambda rest=rest, at=f"{path}:{lineno}": _numbers(rest, at)
    return _Rows(rows())


def _numbers(text, where):
    try:
        values = np.asarray(text.split(), dtype="float32")
    except ValueError:
        raise DataError(f"{where}: the values after the word are not all numbers") from None
    if not np.isfinite(values).all():
        raise DataError(f"{where}: the vector holds NaN or infinite values")
    return values


def _binary_rows(path):
    def rows():
        with open(path, "rb") as f:
            count, dim = _header(f.readline().decode("utf-8"))
            for number in range(1, count + 1):
                word = bytearray()
                while (byte := f.read(1)) not in (b" ", b""):
                    if byte != b"\n":
                        word += byte
                data = f.read(4 * dim)
                if len(data) < 4 * dim:
                    raise DataError(f"{path}: vector {number} of {count} is cut short: the file is truncated")
                where = f"vector {number}"
                yield where, word.decode("utf-8", "replace"), dim, lambda data=data: np.frombuffer(data, "<f4").copy()
    return _Rows(rows())


def _token_embedding_rows(name):
    """The rows of PaddleNLP TokenEmbedding `name`: its .npz in PaddleNLP's cache, downloaded on first use."""
    from paddlenlp.embeddings.constant import EMBEDDING_NAME_LIST, EMBEDDING_URL_ROOT
    from paddlenlp.embeddings.token_embedding import EMBEDDING_HOME

    if name not in EMBEDDING_NAME_LIST:
        raise DataError(f"--pretrained_embeddings {name}: no such file, nor a PaddleNLP TokenEmbedding name (e.g. "
                        f"{EMBEDDING_NAME_LIST[0]})")
    path = os.path.join(EMBEDDING_HOME, name + ".npz")
    if not os.path.isfile(path):
        from paddle.utils.download import get_path_from_url

        get_path_from_url(f"{EMBEDDING_URL_ROOT}/{name}.tar.gz", EMBEDDING_HOME)

    def rows():
        with np.load(path) as table:
            vocab = table["vocab"]
        with zipfile.ZipFile(path) as archive, archive.open("embedding.npy") as f:  # streamed: never the whole table
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)(f)
            for start in range(0, shape[0], NPZ_CHUNK_ROWS):
                chunk = np.frombuffer(f.read(dtype.itemsize * shape[1] * min(NPZ_CHUNK_ROWS, shape[0] - start)),
                                      dtype).reshape(-1, shape[1])
                for offset, row in enumerate(chunk):
                    yield f"{name} row {start + offset}", str(vocab[start + offset]), shape[1], \
                        lambda row=row: row.astype("float32")
    return _Rows(rows())
