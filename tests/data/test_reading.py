import os
import subprocess
import sys
import time

import pytest

from conftest import FIXTURE_DIR, ROOT
from ernie_distill.data.reading import (DataError, download_data_dir, load_splits, load_task, read_bytes,
                                        read_text_lines, read_tsv)

CHN = load_task("chnsenticorp")


def write(tmp_path, content, name="train.tsv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def test_reads_both_layouts_by_header():
    splits = load_splits(load_task("ChnSentiCorp"), FIXTURE_DIR)
    assert len(splits["train"]) == 240 and len(splits["dev"]) == 60  # label\ttext_a and qid\tlabel\ttext_a
    assert {e.label for e in splits["dev"]} == {0, 1}
    assert splits["dev"][0].text == "酒店真的糟糕，住了两晚" and splits["dev"][0].label == 0


def test_last_line_without_newline_and_crlf(tmp_path):
    examples, _ = read_tsv(write(tmp_path, "label\ttext_a\r\n1\t好\r\n0\t差"), CHN)
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
        read_tsv(path, CHN)
    assert path in str(err.value) and message in str(err.value)


def test_skip_invalid_counts_and_reports(tmp_path):
    path = write(tmp_path, "label\ttext_a\n1\t好\n1\n0\t\n0\t差\n")
    examples, skipped = read_tsv(path, CHN, skip_invalid=True)
    assert [e.text for e in examples] == ["好", "差"]
    assert len(skipped) == 2 and f"{path}:3" in skipped[0] and f"{path}:4" in skipped[1]


def test_missing_files_and_unknown_task(tmp_path):
    write(tmp_path, "label\ttext_a\n1\t好\n")
    with pytest.raises(DataError, match="missing dev.tsv"):
        load_splits(CHN, str(tmp_path))
    with pytest.raises(DataError, match="the built-in task is chnsenticorp; for your own task .*labels.txt"):
        load_task("nosuchtask", str(tmp_path))


def test_stalled_download_ends_in_time_and_names_data_dir(monkeypatch):
    import paddlenlp.datasets

    monkeypatch.setattr(paddlenlp.datasets, "load_dataset", lambda *a, **k: time.sleep(30))
    started = time.time()
    with pytest.raises(DataError, match="--data_dir"):
        load_splits(CHN, None, download_timeout=0.5)
    assert time.time() - started < 5


def test_failed_download_names_data_dir(monkeypatch):
    import paddlenlp.datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(paddlenlp.datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="failed: Name or service not known.*--data_dir"):
        load_splits(CHN, None)


def test_download_copies_the_splits_into_the_folder_asked_for(tmp_path, monkeypatch):
    import paddlenlp.datasets
    import paddlenlp.utils.env

    home = tmp_path / "paddlenlp-data"
    download = home / "ChnSentiCorp" / "ChnSentiCorp"
    download.mkdir(parents=True)
    (download / "train.tsv").write_text("label\ttext_a\n1\t好\n0\t差\n", encoding="utf-8")
    (download / "dev.tsv").write_text("qid\tlabel\ttext_a\n0\t0\t差\n", encoding="utf-8")
    rows = [{"text": "好", "label": 1}]
    monkeypatch.setattr(paddlenlp.datasets, "load_dataset", lambda *a, **k: [rows, rows])
    monkeypatch.setattr(paddlenlp.utils.env, "DATA_HOME", str(home))
    out = tmp_path / "data" / "chnsenticorp"
    assert download_data_dir("ChnSentiCorp", str(out)) == str(out)
    assert len(load_splits(CHN, str(out))["dev"]) == 1
    assert download_data_dir("ChnSentiCorp", str(out)) == str(out)  # the same files again: nothing to do
    (out / "dev.tsv").write_text("label\ttext_a\n1\t我的\n", encoding="utf-8")
    with pytest.raises(DataError, match="dev.tsv exists and is not the chnsenticorp download"):
        download_data_dir("ChnSentiCorp", str(out))
    assert (out / "dev.tsv").read_text(encoding="utf-8") == "label\ttext_a\n1\t我的\n"  # the user's file is kept


def test_offline_download_is_one_error_line_and_writes_nothing(tmp_path):
    out = tmp_path / "data"
    done = subprocess.run([sys.executable, "scripts/download_data.py", "--output_dir", str(out), "--timeout", "20"],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "HTTPS_PROXY": "http://127.0.0.1:9",
                               "HTTP_PROXY": "http://127.0.0.1:9"})
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "--data_dir" in errors[0], done.stderr
    assert not out.exists()


def test_header_names_are_case_insensitive(tmp_path):
    examples, _ = read_tsv(write(tmp_path, "Label\tText_A\n1\t好\n"), CHN)
    assert [(e.text, e.label) for e in examples] == [("好", 1)]
    examples, problems = read_text_lines("QID\tTEXT_A\n7\t还行\n".encode(), "in.tsv", ["0", "1"])
    assert [e.text for e in examples] == ["还行"] and not problems


def make_task_dir(tmp_path, labels="体育\n财经\n科技\n", train="label\ttext_a\n体育\t球赛\n1\t股票\n科技\t芯片\n"):
    (tmp_path / "labels.txt").write_text(labels, encoding="utf-8")
    write(tmp_path, train)
    write(tmp_path, "label\ttext_a\n财经\t基金\n", "dev.tsv")
    return str(tmp_path)


def test_labels_file_defines_a_task_with_name_or_id_labels(tmp_path):
    task = load_task("news", make_task_dir(tmp_path))
    assert task.name == "news" and task.labels == task.label_names == ("体育", "财经", "科技")
    splits = load_splits(task, str(tmp_path))
    assert [e.label for e in splits["train"]] == [0, 1, 2]  # "1" is an id: 财经
    assert load_task("ChnSentiCorp", str(tmp_path)).labels == ("体育", "财经", "科技")  # labels.txt wins


@pytest.mark.parametrize("labels, message", [
    ("体育\n\n科技\n", "labels.txt:2: empty label line"),
    ("体育\n财经\n体育\n", "labels.txt:3: label '体育' repeats line 1"),
    ("体育\n", r"labels.txt: 1 label\(s\); a classification task needs at least two"),
])
def test_bad_labels_file_names_file_and_line(tmp_path, labels, message):
    with pytest.raises(DataError, match=message):
        load_task("news", make_task_dir(tmp_path, labels=labels))


def test_unknown_label_and_class_without_training_examples(tmp_path):
    data_dir = make_task_dir(tmp_path, train="label\ttext_a\n体育\t球赛\n娱乐\t电影\n")
    with pytest.raises(DataError, match=r"train.tsv:3: label '娱乐' is not one of \['体育', '财经', '科技'\] \(nor an id "
                                        r"0-2\) of .*labels.txt: add it there if it is a label \(fix the row, or "):
        load_splits(load_task("news", data_dir), data_dir)
    data_dir = make_task_dir(tmp_path, train="label\ttext_a\n体育\t球赛\n财经\t股票\n")
    with pytest.raises(DataError, match=r"no training example of label\(s\) \['科技'\]"):
        load_splits(load_task("news", data_dir), data_dir)


def test_text_windows_are_bounded_in_lines_whatever_ends_them():
    import io

    from ernie_distill.data.reading import text_windows

    for data in [b"a\r" * 7, b"a\n" * 7, b"a\r\n" * 7, b"\xff\r" * 7]:  # (lone \r: the file is one \n-line)
        windows = list(text_windows(io.BytesIO(data), "f", None, 3))
        assert [len(examples) + len(problems) for examples, problems in windows] == [3, 3, 1]
    (only_bom, _), = text_windows(io.BytesIO(b"\xef\xbb\xbf"), "f", None, 3)  # one empty line, reported as such
    assert [(e.text, e.source) for e in only_bom] == [("", "f:1")]


def test_a_tsv_with_lone_cr_line_ends_is_one_error_saying_so():
    import io

    from ernie_distill.data.reading import text_windows

    with pytest.raises(DataError, match=r"in.tsv:1: this TSV ends its lines with a lone \\r"):
        list(text_windows(io.BytesIO(b"label\ttext_a\r1\t\xe5\xa5\xbd\r"), "in.tsv", ["0", "1"], 8))


def test_fifos_pipes_and_standard_input_are_read_like_files(tmp_path, stdin_bytes):
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    threading.Thread(target=fifo.write_bytes, args=(b"from a fifo\n",), daemon=True).start()
    assert read_bytes(str(fifo)) == b"from a fifo\n"
    read, write = os.pipe()  # what a shell's process substitution <(...) passes: /dev/fd/N, a pipe
    os.write(write, b"substituted\n")
    os.close(write)
    assert read_bytes(f"/dev/fd/{read}") == b"substituted\n"
    os.close(read)
    stdin_bytes(b"standard input\n")
    assert read_bytes("-") == b"standard input\n" and os.fstat(0)  # "-" leaves standard input open
    stdin_bytes(b"again\n")
    assert read_bytes("/dev/stdin", "--teacher_outputs /dev/stdin") == b"again\n"
    with pytest.raises(DataError, match=f"--input_file {tmp_path}: is a directory, not a file"):
        read_bytes(str(tmp_path), f"--input_file {tmp_path}")
    with pytest.raises(DataError, match="--teacher_outputs x.jsonl: file not found"):
        read_bytes(str(tmp_path / "x.jsonl"), "--teacher_outputs x.jsonl")
