"""Reading labelled text data: local TSV files (both ChnSentiCorp layouts) or PaddleNLP's download.

Every row is validated; a bad row is an error naming the file and line, or, when the caller asks for it,
a counted skip that is reported. Nothing is dropped silently.
"""
import codecs
import io
import itertools
import os
import threading
from dataclasses import dataclass

from ..atomic import write_file_atomically
from ..errors import InputError
from ..log import logger

# Built-in tasks: the label strings found in the data files, their names, and where PaddleNLP's load_dataset leaves the
# files under its DATA_HOME. Any other task is defined by its data: a --data_dir with labels.txt.
BUILTIN_TASKS = {
    "chnsenticorp": {"labels": ["0", "1"], "label_names": ["negative", "positive"],
                     "download_dir": os.path.join("ChnSentiCorp", "ChnSentiCorp")},
}
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
LABELS_FILE = "labels.txt"
DEFAULT_TASK = "ChnSentiCorp"  # the built-in task a --data_dir without labels.txt holds


class DataError(InputError):
    """Bad input data; the message names the file, the line and what to do."""


@dataclass
class Example:
    text: str
    label: int  # index into the task's label list; -1 when the split carries no labels
    source: str = ""  # "file:line", for messages


@dataclass(frozen=True)
class Task:
    """A classification task: `labels` are the values in the data files (in id order), `label_names` what is printed."""

    name: str
    labels: tuple
    label_names: tuple
    labels_file: str = ""  # your own task's labels.txt (none for a built-in task)

    def label_index(self):
        """Label value -> id. A file may give a label by its value or by its integer id; the value wins a clash."""
        return {**{str(i): i for i in range(len(self.labels))}, **{label: i for i, label in enumerate(self.labels)}}


def load_task(task_name=None, data_dir=None):
    """The task: from DATA_DIR/labels.txt when there is one (your own task, named task_name, else after its folder),
    else a built-in task by name (default: ChnSentiCorp)."""
    labels_path = os.path.join(data_dir, LABELS_FILE) if data_dir else None
    if labels_path and os.path.isfile(labels_path):
        labels = read_labels_file(labels_path)
        return Task(task_name or os.path.basename(os.path.abspath(data_dir)), tuple(labels), tuple(labels), labels_path)
    task_name = task_name or DEFAULT_TASK
    key = task_name.lower()
    if key not in BUILTIN_TASKS:
        raise DataError(f"unknown --task_name {task_name!r}: the built-in task is {', '.join(sorted(BUILTIN_TASKS))}; "
                        f"for your own task give --data_dir a folder with train.tsv, dev.tsv and {LABELS_FILE} "
                        "(one label per line)")
    spec = BUILTIN_TASKS[key]
    return Task(key, tuple(spec["labels"]), tuple(spec["label_names"]))


def read_labels_file(path):
    """labels.txt: one label per line, in id order; empty or repeated lines and fewer than two labels are errors."""
    with open(path, "rb") as f:
        lines = [decode_line(line, path, n).strip() for n, line in enumerate(split_lines(f.read()), start=1)]
    seen = {}
    for lineno, label in enumerate(lines, start=1):
        if not label:
            raise DataError(f"{path}:{lineno}: empty label line; write one label per line, in id order")
        if "\t" in label:
            raise DataError(f"{path}:{lineno}: label {label!r} contains a tab")
        if label in seen:
            raise DataError(f"{path}:{lineno}: label {label!r} repeats line {seen[label]}")
        seen[label] = lineno
    if len(lines) < 2:
        raise DataError(f"{path}: {len(lines)} label(s); a classification task needs at least two")
    return lines


def read_tsv(path, task, skip_invalid=False, require_labels=True):
    """Read a TSV with a header row: `label\\ttext_a` (ERNIE task data) or `qid\\tlabel\\ttext_a` (PaddleNLP).

    Returns (examples, skipped) where skipped lists "file:line: reason" strings (empty unless skip_invalid).
    """
    return parse_tsv(read_bytes(path), path, task, skip_invalid, require_labels)


STDIN = "-"  # a file name meaning standard input, as Unix tools take it


def open_binary(path, name=None):
    """The file opened for reading bytes, or a DataError naming it as `name` (e.g. "--input_file X"; default: the
    path) when it is missing or a directory. Anything that can be read in turn is taken: a file, a FIFO, a pipe or
    device (/dev/stdin, a shell's process substitution <(...)), and "-" for standard input (left open when closed)."""
    if path == STDIN:
        return open(0, "rb", closefd=False)  # (file descriptor 0 is standard input)
    if os.path.isdir(path):
        raise DataError(f"{name or path}: is a directory, not a file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{name or path}: file not found") from None


def read_bytes(path, name=None):
    """The file's bytes, or a DataError naming it (open_binary)."""
    with open_binary(path, name) as f:
        return f.read()


def split_lines(raw):
    """Bytes -> lines (bytes), a last line without newline included, a trailing empty line dropped."""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _columns(header_line):
    """Column names of a header row, lower-cased: `Label\tText_A` is `label\ttext_a`."""
    return [name.strip().lower() for name in header_line.lstrip("\ufeff").rstrip("\r").split("\t")]


def text_windows(stream, name, labels, size):
    """Texts to predict from a binary stream, read and yielded `size` lines at a time: (examples, problems) per window.
    A TSV with a header gives gold labels (values of `labels`; None: labels are not read) where it has a label
    column; its rows end at \\n (or \\r\\n), as read_tsv reads them. Anything else is one text a line, a line
    ending at \\n, \\r\\n or a lone \\r (files of old Mac tools). A UTF-8 byte order mark is dropped. A malformed
    row or an undecodable line is a "name:line: reason" problem, for the caller to report: never dropped silently."""
    first = stream.readline()
    if not first:
        return
    first = first[len(codecs.BOM_UTF8):] if first.startswith(codecs.BOM_UTF8) else first
    head = _without_line_end(first)
    try:
        header = _columns(head.split(b"\r")[0].decode("utf-8"))
    except UnicodeDecodeError:
        header = []
    if "text_a" not in header:
        yield from _line_windows(first, stream, name, size)
        return
    if b"\r" in head:
        raise DataError(f"{name}:1: this TSV ends its lines with a lone \\r (an old Mac file), and a TSV's rows end at "
                        "\\n or \\r\\n: convert it, e.g. tr '\\r' '\\n' < in.tsv > out.tsv")
    columns = _tsv_columns(_columns(head.decode("utf-8", "replace")), name,
                           Task(name, tuple(labels or ()), tuple(labels or ())), require_labels=False)
    if labels is None:  # texts only: a label column is left unread
        columns = (columns[0], columns[1], None, *columns[3:])
    examples, problems = [], []
    for count, (lineno, raw) in enumerate(enumerate(map(_without_line_end, stream), start=2), start=1):
        try:
            examples.append(_tsv_row(raw, lineno, name, columns))
        except DataError as err:
            problems.append(str(err))
        if count % size == 0:
            yield examples, problems
            examples, problems = [], []
    if examples or problems:
        yield examples, problems


def _line_windows(first, stream, name, size):
    """text_windows of a file of one text a line: read `size` \\n-ended lines at a time, cut into lines at every line
    end, and yielded `size` lines at a time (a file of lone \\r line ends is one \\n-line)."""
    lineno, chunk = 0, first + b"".join(itertools.islice(stream, size - 1))
    while True:  # (the first chunk even when empty: a file holding only a byte order mark has one empty line)
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = (chunk[:-1] if chunk.endswith(b"\n") else chunk).split(b"\n")
        for start in range(0, len(lines), size):
            yield _decoded_lines(lines[start : start + size], name, lineno + start)
        lineno += len(lines)
        chunk = b"".join(itertools.islice(stream, size))
        if not chunk:
            return


def _decoded_lines(lines, name, lineno):
    """(examples, problems) of lines numbered from lineno + 1: decoded in one call, or line by line where one is not
    UTF-8, to name it."""
    sources = [f"{name}:{n}" for n in range(lineno + 1, lineno + len(lines) + 1)]
    try:
        return list(map(Example, b"\n".join(lines).decode("utf-8").split("\n"), [-1] * len(lines), sources)), []
    except UnicodeDecodeError:
        examples, problems = [], []
        for n, (source, raw) in enumerate(zip(sources, lines), start=lineno + 1):
            try:
                examples.append(Example(decode_line(raw, name, n), -1, source))
            except DataError as err:
                problems.append(str(err))
        return examples, problems


def _without_line_end(raw):
    """A line's bytes without its \\n, or \\r\\n."""
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    return raw[:-1] if raw.endswith(b"\r") else raw


def read_text_lines(raw, name, labels):
    """text_windows over bytes already read, as one window: (examples, problems)."""
    examples, problems = [], []
    for window_examples, window_problems in text_windows(io.BytesIO(raw), name, labels, size=1 << 62):
        examples += window_examples
        problems += window_problems
    return examples, problems


def _tsv_columns(header, name, task, require_labels):
    """(header, text column, label column or None, label index, task) of a TSV's header row, or a DataError saying
    what it lacks."""
    if "text_a" not in header:
        raise DataError(
            f"{name}:1: header {header!r} has no 'text_a' column; expected 'label\\ttext_a' or 'qid\\tlabel\\ttext_a'"
        )
    if require_labels and "label" not in header:
        raise DataError(f"{name}:1: header {header!r} has no 'label' column, but this split needs labels")
    label_col = header.index("label") if "label" in header else None
    return header, header.index("text_a"), label_col, task.label_index(), task


def _tsv_row(raw_line, lineno, name, columns):
    """The Example of one TSV row (label -1 without a label column), or a DataError naming the file and line."""
    header, text_col, label_col, label_index, task = columns
    where = f"{name}:{lineno}"
    fields = decode_line(raw_line, name, lineno).rstrip("\r").split("\t")
    if len(fields) != len(header):
        raise DataError(f"{where}: expected {len(header)} tab-separated fields ({', '.join(header)}), "
                        f"found {len(fields)}")
    text = fields[text_col].strip()
    if not text:
        raise DataError(f"{where}: empty text_a")
    label = -1
    if label_col is not None:
        value = fields[label_col].strip()
        if value not in label_index:
            fix = f" of {task.labels_file}: add it there if it is a label" if task.labels_file else ""
            raise DataError(f"{where}: label {value!r} is not one of {list(task.labels)} (nor an id 0-"
                            f"{len(task.labels) - 1}){fix}")
        label = label_index[value]
    return Example(text, label, where)


def parse_tsv(raw, name, task, skip_invalid=False, require_labels=True):
    """read_tsv on bytes already read; `name` stands for the file in messages."""
    examples, skipped = [], []
    raw_lines = split_lines(raw)
    if not raw_lines:
        raise DataError(f"{name}: the file is empty; expected a header row such as 'label\\ttext_a'")
    columns = _tsv_columns(_columns(decode_line(raw_lines[0], name, 1)), name, task, require_labels)
    for lineno, raw_line in enumerate(raw_lines[1:], start=2):
        try:
            examples.append(_tsv_row(raw_line, lineno, name, columns))
        except DataError as err:
            if not skip_invalid:
                raise DataError(f"{err} (fix the row, or pass --skip_invalid to skip and count such rows)") from None
            skipped.append(str(err))
    return examples, skipped


def decode_line(raw, path, lineno):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def load_splits(task, data_dir=None, splits=("train", "dev"), skip_invalid=False, download_timeout=120):
    """Load the named splits as lists of Examples, from `data_dir` when given, else from PaddleNLP's download.

    Every label of the task must occur in train: a class the model never sees is a mistake in the data.
    """
    if data_dir:
        if not os.path.isdir(data_dir):
            problem = "is a file" if os.path.exists(data_dir) else "does not exist"
            raise DataError(f"--data_dir {data_dir} {problem}; give a folder holding train.tsv and dev.tsv")
        result = {}
        for split in splits:
            path = os.path.join(data_dir, SPLIT_FILES[split])
            if split == "test" and not os.path.isfile(path):
                continue
            if not os.path.isfile(path):
                raise DataError(f"--data_dir {data_dir}: missing {SPLIT_FILES[split]} (needed for the {split} split)")
            result[split], skipped = read_tsv(path, task, skip_invalid, require_labels=split != "test")
            if skipped:
                logger.warning("%s: skipped %d invalid row(s); first: %s", path, len(skipped), skipped[0])
            if not result[split]:
                raise DataError(f"{path}: no usable rows")
    else:
        if task.name not in BUILTIN_TASKS:
            raise DataError(f"task {task.name!r} is not built in: give --data_dir (train.tsv, dev.tsv, labels.txt)")
        result = _download_splits(task, splits, download_timeout)
    if "train" in result:
        seen = {e.label for e in result["train"]}
        missing = [label for i, label in enumerate(task.labels) if i not in seen]
        if missing:
            raise DataError(f"{os.path.join(data_dir or task.name, SPLIT_FILES['train'])}: no training example of "
                            f"label(s) {missing}; add examples, or remove the label from {LABELS_FILE}")
    return result


def download_data_dir(task_name, output_dir, timeout=120):
    """Download a built-in task with PaddleNLP (bounded in time) and copy its train.tsv and dev.tsv into `output_dir`.
    A file there that is not the same download is an error: nothing of the user's is overwritten."""
    task = load_task(task_name)
    _download_splits(task, ("train", "dev"), timeout)
    from paddlenlp.utils.env import DATA_HOME

    source = os.path.join(DATA_HOME, BUILTIN_TASKS[task.name]["download_dir"])
    names = [SPLIT_FILES["train"], SPLIT_FILES["dev"]]
    contents = {}
    for name in names:
        with open(os.path.join(source, name), "rb") as f:
            contents[name] = f.read()
        target = os.path.join(output_dir, name)
        if os.path.exists(target):
            with open(target, "rb") as f:
                if f.read() != contents[name]:
                    raise DataError(f"{target} exists and is not the {task.name} download: move it away, or give "
                                    "another --output_dir")
    os.makedirs(output_dir, exist_ok=True)
    for name in names:
        write_file_atomically(os.path.join(output_dir, name), lambda f, name=name: f.write(contents[name]), "wb")
    return output_dir


def _download_splits(task, splits, timeout):
    """PaddleNLP's `load_dataset`, bounded in time: its download has no timeout and can hang behind a silent proxy."""
    outcome = {}

    def target():
        try:
            from paddlenlp.datasets import load_dataset

            outcome["data"] = load_dataset(task.name, splits=list(splits), lazy=False)
        except BaseException as err:  # reported to the caller below
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    hint = ("Download the data by hand, or point --data_dir at a folder with train.tsv and dev.tsv (header "
            "'label\\ttext_a').")
    if worker.is_alive():
        raise DataError(f"downloading dataset {task.name!r} did not finish within {timeout} s (offline?). {hint}")
    if "error" in outcome:
        raise DataError(f"downloading dataset {task.name!r} failed: {outcome['error']}. {hint}")
    result = {}
    for split, dataset in zip(splits, outcome["data"]):
        rows = [Example(row["text"], int(row.get("label", -1)), f"{task.name}:{split}:{i}")
                for i, row in enumerate(dataset)]
        bad = [r.source for r in rows if split != "test" and not 0 <= r.label < len(task.labels)]
        if bad:
            raise DataError(f"downloaded {split} split has labels outside {list(task.labels)}, first at {bad[0]}")
        result[split] = rows
    return result
