"""Reading labelled text data: local TSV files (both ChnSentiCorp layouts) or PaddleNLP's download.

Every row is validated; a bad row is an error naming the file and line, or, when the caller asks for it,
a counted skip that is reported. Nothing is dropped silently.
"""
import os
import threading
from dataclasses import dataclass

from .errors import InputError
from .log import logger

# Label set and names per task. Labels are the strings found in the data files.
# download_dir: where PaddleNLP's load_dataset leaves the files, under its DATA_HOME.
TASKS = {
    "chnsenticorp": {"labels": ["0", "1"], "label_names": ["negative", "positive"],
                     "download_dir": os.path.join("ChnSentiCorp", "ChnSentiCorp")},
}
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


class DataError(InputError):
    """Bad input data; the message names the file, the line and what to do."""


@dataclass
class Example:
    text: str
    label: int  # index into the task's label list; -1 when the split carries no labels
    source: str = ""  # "file:line", for messages


def task_spec(task_name):
    key = task_name.lower()
    if key not in TASKS:
        raise DataError(f"unknown --task_name {task_name!r}; choose one of: {', '.join(sorted(TASKS))}")
    return TASKS[key]


def read_tsv(path, labels, skip_invalid=False, require_labels=True):
    """Read a TSV with a header row: `label\\ttext_a` (ERNIE task data) or `qid\\tlabel\\ttext_a` (PaddleNLP).

    Returns (examples, skipped) where skipped lists "file:line: reason" strings (empty unless skip_invalid).
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        return parse_tsv(f.read(), path, labels, skip_invalid, require_labels)


def split_lines(raw):
    """Bytes -> lines (bytes), a last line without newline included, a trailing empty line dropped."""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _columns(header_line):
    return header_line.lstrip("\ufeff").rstrip("\r").split("\t")


def read_text_lines(raw, name, labels):
    """Texts to predict from bytes: a TSV with a header (gold labels when it has them), else one text per line.

    Returns (examples, problems): a malformed row or an undecodable line is a "name:line: reason" problem, reported
    by the caller, never dropped silently.
    """
    lines = split_lines(raw)
    try:
        is_tsv = bool(lines) and "text_a" in _columns(lines[0].decode("utf-8"))
    except UnicodeDecodeError:
        is_tsv = False
    if is_tsv:
        return parse_tsv(raw, name, labels, skip_invalid=True, require_labels=False)
    examples, problems = [], []
    for lineno, line in enumerate(lines, start=1):
        try:
            examples.append(Example(_decode(line, name, lineno).rstrip("\r"), -1, f"{name}:{lineno}"))
        except DataError as err:
            problems.append(str(err))
    return examples, problems


def parse_tsv(raw, name, labels, skip_invalid=False, require_labels=True):
    """read_tsv on bytes already read; `name` stands for the file in messages."""
    label_index = {label: i for i, label in enumerate(labels)}
    examples, skipped = [], []
    raw_lines = split_lines(raw)
    if not raw_lines:
        raise DataError(f"{name}: the file is empty; expected a header row such as 'label\\ttext_a'")
    header = _columns(_decode(raw_lines[0], name, 1))
    if "text_a" not in header:
        raise DataError(
            f"{name}:1: header {header!r} has no 'text_a' column; expected 'label\\ttext_a' or 'qid\\tlabel\\ttext_a'"
        )
    if require_labels and "label" not in header:
        raise DataError(f"{name}:1: header {header!r} has no 'label' column, but this split needs labels")
    text_col, label_col = header.index("text_a"), header.index("label") if "label" in header else None

    for lineno, raw_line in enumerate(raw_lines[1:], start=2):
        where = f"{name}:{lineno}"
        try:
            line = _decode(raw_line, name, lineno).rstrip("\r")
            fields = line.split("\t")
            if len(fields) != len(header):
                raise DataError(
                    f"{where}: expected {len(header)} tab-separated fields ({', '.join(header)}), found {len(fields)}"
                )
            text = fields[text_col].strip()
            if not text:
                raise DataError(f"{where}: empty text_a")
            label = -1
            if label_col is not None:
                value = fields[label_col].strip()
                if value not in label_index:
                    raise DataError(f"{where}: label {value!r} is not one of {labels}")
                label = label_index[value]
            examples.append(Example(text, label, where))
        except DataError as err:
            if not skip_invalid:
                raise DataError(f"{err} (fix the row, or pass --skip_invalid to skip and count such rows)") from None
            skipped.append(str(err))
    if skipped:
        logger.warning("%s: skipped %d invalid row(s); first: %s", name, len(skipped), skipped[0])
    return examples, skipped


def _decode(raw, path, lineno):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def load_splits(task_name, data_dir=None, splits=("train", "dev"), skip_invalid=False, download_timeout=120):
    """Load the named splits as lists of Examples, from `data_dir` when given, else from PaddleNLP's download."""
    labels = task_spec(task_name)["labels"]
    if data_dir:
        if not os.path.isdir(data_dir):
            raise DataError(f"--data_dir {data_dir} does not exist; it should hold train.tsv and dev.tsv")
        result = {}
        for split in splits:
            path = os.path.join(data_dir, SPLIT_FILES[split])
            if split == "test" and not os.path.isfile(path):
                continue
            if not os.path.isfile(path):
                raise DataError(f"--data_dir {data_dir}: missing {SPLIT_FILES[split]} (needed for the {split} split)")
            result[split], _ = read_tsv(path, labels, skip_invalid, require_labels=split != "test")
            if not result[split]:
                raise DataError(f"{path}: no usable rows")
        return result
    return _download_splits(task_name, splits, labels, download_timeout)


def download_data_dir(task_name, timeout=120):
    """Download the task with PaddleNLP (bounded in time) and return the folder with its train.tsv and dev.tsv."""
    _download_splits(task_name, ("train", "dev"), task_spec(task_name)["labels"], timeout)
    from paddlenlp.utils.env import DATA_HOME

    return os.path.join(DATA_HOME, task_spec(task_name)["download_dir"])


def _download_splits(task_name, splits, labels, timeout):
    """PaddleNLP's `load_dataset`, bounded in time: its download has no timeout and can hang behind a silent proxy."""
    outcome = {}

    def target():
        try:
            from paddlenlp.datasets import load_dataset

            outcome["data"] = load_dataset(task_name.lower(), splits=list(splits), lazy=False)
        except BaseException as err:  # reported to the caller below
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    hint = "Download the data by hand, or point --data_dir at a folder with train.tsv and dev.tsv (header 'label\\ttext_a')."
    if worker.is_alive():
        raise DataError(f"downloading dataset {task_name!r} did not finish within {timeout} s (offline?). {hint}")
    if "error" in outcome:
        raise DataError(f"downloading dataset {task_name!r} failed: {outcome['error']}. {hint}")
    result = {}
    for split, dataset in zip(splits, outcome["data"]):
        rows = [Example(row["text"], int(row.get("label", -1)), f"{task_name}:{split}:{i}") for i, row in enumerate(dataset)]
        bad = [r.source for r in rows if split != "test" and not 0 <= r.label < len(labels)]
        if bad:
            raise DataError(f"downloaded {split} split has labels outside {labels}, first at {bad[0]}")
        result[split] = rows
    return result
