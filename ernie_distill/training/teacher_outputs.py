"""A teacher's outputs made anywhere (another machine, another framework, an LLM that labels texts): --teacher_outputs.

Two layouts, one row per text of the transfer set (as --write_transfer_set wrote it), matched by text:
  - JSON lines, as `predict.py --logits` prints them: {"text": ..., "logits": [...]} or {"text": ..., "probs": [...]},
    one value per label of the task, in the task's label order (other keys are ignored);
  - a TSV with a header row: `text_a` (or `text`), then one column per label, `logit_LABEL` or `prob_LABEL`.
Probabilities become centred log-probabilities (logits are defined up to a constant per text, which a softmax
ignores; centring keeps MSE from learning the constant). A row with a wrong
number of values, a NaN or infinite value, or probabilities outside [0, 1] or not summing to 1 is an error naming its
line; so are a text of the transfer set that the file lacks and a text of the file that is not in the transfer set (a
file made for other flags). A text on several lines (the transfer set may repeat one) gets the mean of their values,
with a warning where they differ (a teacher run in batches, int8 say, can score one text a little differently in two).
"""
import codecs
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ..data.reading import DataError, decode_line, read_bytes, split_lines
from ..log import logger

PROB_SUM_TOLERANCE = 1e-3
MIN_PROB = 1e-7  # log(0) would be -inf: a probability of 0 counts as this


@dataclass
class TeacherOutputs:
    path: str
    values: dict  # text -> (float32 logits, line number)
    digest: str

    @classmethod
    def read(cls, path, task):
        raw = read_bytes(path, f"--teacher_outputs {path}")
        lines = split_lines(raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw)
        if not any(line.strip() for line in lines):
            raise DataError(f"--teacher_outputs {path} is empty: label the --write_transfer_set file, e.g. with "
                            "predict.py --logits")
        rows = _json_rows(path, lines, task) if lines[0].lstrip().startswith(b"{") else _tsv_rows(path, lines, task)
        found, differing = {}, []  # text -> ([arrays], first line); (text, first line, line) where values differ
        for lineno, text, numbers, kind in rows:
            where = f"{path}:{lineno}"
            if len(numbers) != len(task.labels):
                raise DataError(f"{where}: {len(numbers)} {kind} for a task with {len(task.labels)} labels "
                                f"({', '.join(task.labels)})")
            array = np.asarray(numbers, dtype="float64")
            if not np.isfinite(array).all():
                raise DataError(f"{where}: {kind} must be finite numbers, got {numbers}")
            if kind == "probs":
                if (array < 0).any() or (array > 1).any() or abs(array.sum() - 1) > PROB_SUM_TOLERANCE:
                    raise DataError(f"{where}: probs must lie in [0, 1] and sum to 1 (sum {array.sum():.6g}); give "
                                    "logits instead if they are not probabilities")
                array = np.log(np.maximum(array, MIN_PROB))
                array -= array.mean()  # logits are defined up to a constant: centred, as a softmax layer's are
            arrays, first = found.setdefault(text, ([], lineno))
            if arrays and not np.array_equal(arrays[0], array):
                differing.append((text, first, lineno))
            arrays.append(array)
        if differing:
            text, first, lineno = differing[0]
            logger.warning("--teacher_outputs %s: %d text(s) on several lines with different values (first %s, lines "
                           "%d and %d): each gets the mean of its lines", path, len({t for t, _, _ in differing}),
                           _short(text), first, lineno)
        # (the mean of equal float64 values rounds back to the very float32 they were written from)
        values = {text: (np.mean(arrays, axis=0).astype("float32"), first) for text, (arrays, first) in found.items()}
        return cls(path, values, hashlib.sha256(raw).hexdigest()[:20])

    def logits_for(self, texts):
        """float32 logits, one row per text of the transfer set (as its teacher reads it)."""
        wanted = set(texts)
        stray = [(line, text) for text, (_, line) in self.values.items() if text not in wanted]
        if stray:
            line, text = min(stray)
            raise DataError(f"{self.path}:{line}: text {_short(text)} is not in the transfer set: the file was made "
                            "for another transfer set; write it again with --write_transfer_set and these flags")
        for number, text in enumerate(texts, start=1):
            if text not in self.values:
                raise DataError(f"--teacher_outputs {self.path} has no row for text {number} of the transfer set, "
                                f"{_short(text)}: label every line of the --write_transfer_set file made with these "
                                "flags")
        return np.stack([self.values[text][0] for text in texts])

    def provenance(self):
        return {"outputs": os.path.abspath(self.path), "kind": "outputs", "pretrained": None, "dev_accuracy": None}


def _short(text, limit=40):
    return json.dumps(text if len(text) <= limit else text[:limit] + "...", ensure_ascii=False)


def _json_rows(path, lines, task):
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(decode_line(raw, path, lineno))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: not a JSON object ({err.msg}); expected {{\"text\": ..., \"logits\": "
                            "[...]}, one a line") from None
        kind = next((key for key in ("logits", "probs") if isinstance(row, dict) and key in row), None)
        if not kind or not isinstance(row.get("text"), str):
            raise DataError(f"{path}:{lineno}: expected an object with \"text\" and \"logits\" or \"probs\"")
        numbers = row[kind]
        if not isinstance(numbers, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in numbers):
            raise DataError(f"{path}:{lineno}: \"{kind}\" must be a list of numbers, one per label")
        yield lineno, row["text"], numbers, kind


def _tsv_rows(path, lines, task):
    header = [name.strip() for name in decode_line(lines[0], path, 1).rstrip("\r").split("\t")]
    kinds = {"logits": [f"logit_{label}" for label in task.labels], "probs": [f"prob_{label}" for label in task.labels]}
    kind = next((k for k, names in kinds.items() if header[1:] == names), None)
    if header[0].lower() not in ("text_a", "text") or not kind:
        raise DataError(f"{path}:1: header {header} is not text_a followed by {', '.join(kinds['logits'])} (or "
                        f"{', '.join(kinds['probs'])}); or give JSON lines as predict.py --logits prints them")
    for lineno, raw in enumerate(lines[1:], start=2):
        fields = decode_line(raw, path, lineno).rstrip("\r").split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}:{lineno}: expected {len(header)} tab-separated fields, found {len(fields)}")
        try:
            numbers = [float(value) for value in fields[1:]]
        except ValueError:
            raise DataError(f"{path}:{lineno}: {fields[1:]} are not all numbers") from None
        yield lineno, fields[0], numbers, kind
