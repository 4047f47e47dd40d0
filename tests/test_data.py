import time

import pytest

from conftest import FIXTURE_DIR
from ernie_distill.data import DataError, load_splits, read_tsv

LABELS = ["0", "1"]


def write(tmp_path, content, name="train.tsv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def test_reads_both_layouts_by_header():
    splits = load_splits("ChnSentiCorp", FIXTURE_DIR)
    assert len(splits["train"]) == 240 and len(splits["dev"]) == 60  # label\ttext_a and qid\tlabel\ttext_a
    assert {e.label for e in splits["dev"]} == {0, 1}
    assert splits["dev"][0].text == "酒店真的糟糕，住了两晚" and splits["dev"][0].label == 0


def test_last_line_without_newline_and_crlf(tmp_path):
    examples, _ = read_tsv(write(tmp_path, "label\ttext_a\r\n1\t好\r\n0\t差"), LABELS)
    assert [(e.text, e.label) for e in examples] == [("好", 1), ("差", 0)]


@pytest.mark.parametrize("content, message", [
    ("label\ttext_a\n1\t好\n1\n", ":3: expected 2 tab-separated fields"),
    ("label\ttext_a\n1\t好\n0\t   \n", ":3: empty text_a"),
    ("label\ttext_a\n1\t好\n2\t还行\n", ":3: label '2' is not one of"),
    ("text\tlabel\n好\t1\n", ":1: header"),
    ("", "the file is empty"),
    (b"label\ttext_a\n1\t\xff\xfe\n", ":2: not valid UTF-8"),
])
def test_bad_rows_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError) as err:
        read_tsv(path, LABELS)
    assert path in str(err.value) and message in str(err.value)


def test_skip_invalid_counts_and_reports(tmp_path):
    path = write(tmp_path, "label\ttext_a\n1\t好\n1\n0\t\n0\t差\n")
    examples, skipped = read_tsv(path, LABELS, skip_invalid=True)
    assert [e.text for e in examples] == ["好", "差"]
    assert len(skipped) == 2 and f"{path}:3" in skipped[0] and f"{path}:4" in skipped[1]


def test_missing_files_and_unknown_task(tmp_path):
    write(tmp_path, "label\ttext_a\n1\t好\n")
    with pytest.raises(DataError, match="missing dev.tsv"):
        load_splits("chnsenticorp", str(tmp_path))
    with pytest.raises(DataError, match="choose one of: chnsenticorp"):
        load_splits("nosuchtask", str(tmp_path))


def test_stalled_download_ends_in_time_and_names_data_dir(monkeypatch):
    import paddlenlp.datasets

    monkeypatch.setattr(paddlenlp.datasets, "load_dataset", lambda *a, **k: time.sleep(30))
    started = time.time()
    with pytest.raises(DataError, match="--data_dir"):
        load_splits("chnsenticorp", None, download_timeout=0.5)
    assert time.time() - started < 5


def test_failed_download_names_data_dir(monkeypatch):
    import paddlenlp.datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(paddlenlp.datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="failed: Name or service not known.*--data_dir"):
        load_splits("chnsenticorp", None)
