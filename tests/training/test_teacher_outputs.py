"""--teacher_outputs files: JSON lines or TSV, logits or probabilities, matched by text; every bad row one error."""
import json
import math

import numpy as np
import pytest

from ernie_distill.data.reading import Task
from ernie_distill.training.teacher_outputs import TeacherOutputs

TASK = Task("sentiment", ("0", "1"), ("negative", "positive"))


def write(tmp_path, lines, name="outputs.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def jsonl(*rows):
    return [json.dumps(row, ensure_ascii=False) for row in rows]


def test_json_lines_of_logits_and_probabilities_and_a_tsv_give_logits_in_text_order(tmp_path):
    path = write(tmp_path, jsonl({"text": "好", "label": "positive", "logits": [-1.5, 2.25]},
                                 {"text": "差", "probs": [0.8, 0.2]}))
    outputs = TeacherOutputs.read(path, TASK)
    logits = outputs.logits_for(["差", "好", "好"])
    half = (math.log(0.8) - math.log(0.2)) / 2  # centred log-probabilities
    np.testing.assert_allclose(logits, [[half, -half], [-1.5, 2.25], [-1.5, 2.25]], rtol=1e-6)
    assert logits.dtype == np.float32 and len(outputs.digest) == 20
    tsv = write(tmp_path, ["text_a\tprob_0\tprob_1", "好\t0\t1"], "outputs.tsv")
    half = math.log(1e-7) / 2  # a probability of 0 counts as 1e-7
    np.testing.assert_allclose(TeacherOutputs.read(tsv, TASK).logits_for(["好"]), [[half, -half]], rtol=1e-6)


def test_a_text_on_several_lines_gets_their_mean_and_a_warning_where_they_differ(tmp_path, caplog, monkeypatch):
    from ernie_distill.log import logger

    monkeypatch.setattr(logger, "propagate", True)  # into caplog
    same = write(tmp_path, jsonl({"text": "好", "logits": [1.0, 2.0]}, {"text": "好", "logits": [1.0, 2.0]}))
    differ = write(tmp_path, jsonl({"text": "好", "logits": [1.0, 2.0]}, {"text": "差", "logits": [0, 0]},
                                   {"text": "好", "logits": [2.0, 0.0]}), "differ.jsonl")
    np.testing.assert_array_equal(TeacherOutputs.read(same, TASK).logits_for(["好"]), [[1.0, 2.0]])
    assert "different values" not in caplog.text
    np.testing.assert_array_equal(TeacherOutputs.read(differ, TASK).logits_for(["好", "差"]), [[1.5, 1.0], [0, 0]])
    assert '1 text(s) on several lines with different values (first "好", lines 1 and 3)' in caplog.text


@pytest.mark.parametrize("lines, message", [
    ([], "is empty"),
    (jsonl({"text": "好", "logits": [1.0, 2.0, 3.0]}), r"outputs.jsonl:1: 3 logits for a task with 2 labels"),
    (['{"text": "好", "logits": [NaN, 1]}'], r"outputs.jsonl:1: logits must be finite numbers"),
    (jsonl({"text": "好", "logits": [0, 1]}, {"text": "差", "logits": [1e400, 0]}), r"outputs.jsonl:2: .*finite"),
    (jsonl({"text": "好", "probs": [0.5, 0.6]}), r"outputs.jsonl:1: probs must lie in \[0, 1\] and sum to 1"),
    (jsonl({"text": "好", "probs": [1.5, -0.5]}), r"outputs.jsonl:1: probs must lie in \[0, 1\]"),
    (['{"text": "好", "logits": [0, 1]', ], r"outputs.jsonl:1: not a JSON object"),
    (jsonl({"text": "好"}), r"outputs.jsonl:1: expected an object with \"text\" and \"logits\" or \"probs\""),
    (jsonl({"text": "好", "logits": ["1", 2]}), r"outputs.jsonl:1: \"logits\" must be a list of numbers"),
])
def test_bad_rows_are_one_error_naming_the_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        TeacherOutputs.read(write(tmp_path, lines), TASK)


@pytest.mark.parametrize("lines, message", [
    (["text_a\tlogit_0", "好\t1"], r"outputs.tsv:1: header .* is not text_a followed by logit_0, logit_1"),
    (["text\tlogit_0\tlogit_1", "好\t1"], r"outputs.tsv:2: expected 3 tab-separated fields, found 2"),
    (["text\tlogit_0\tlogit_1", "好\t1\tx"], r"outputs.tsv:2: .* are not all numbers"),
    (["text\tlogit_0\tlogit_1", "好\t1\tinf"], r"outputs.tsv:2: logits must be finite"),
])
def test_bad_tsv_files_are_one_error_naming_the_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        TeacherOutputs.read(write(tmp_path, lines, "outputs.tsv"), TASK)


def test_a_missing_text_and_an_unknown_text_are_each_an_error(tmp_path):
    outputs = TeacherOutputs.read(write(tmp_path, jsonl({"text": "好", "logits": [0, 1]},
                                                        {"text": "别的", "logits": [1, 0]})), TASK)
    with pytest.raises(ValueError, match=r"outputs.jsonl:2: text \"别的\" is not in the transfer set"):
        outputs.logits_for(["好"])
    with pytest.raises(ValueError, match=r"has no row for text 3 of the transfer set, \"差\""):
        outputs.logits_for(["好", "别的", "差"])
