"""Predict with an exported model (export_model.py's output): a student on its compiled CPU kernel (numba), a teacher
on Paddle Inference (--backend auto, the default), or on the backend --backend names.

    python predict.py --model_dir tmp/export/student --text "这家酒店服务很好" --text "太差了"
    python predict.py --model_dir tmp/export/student --input_file texts.txt      # one text per line
    python predict.py --model_dir tmp/export/student --input_file dev.tsv        # labelled TSV: accuracy too
    cat texts.txt | python predict.py --model_dir tmp/export/student --backend onnx

Installed with the package (pip install ".[deploy]"), the same command is `ernie-distill-predict`.

Prints one JSON line per input, {"text", "label", "score"} (as PaddleNLP Taskflow does; with --logits also every
label's logit, for distill_lstm.py --teacher_outputs), in input order. Input is
read, predicted and printed 8,192 lines at a time, so memory stays bounded and the first results come at once,
whatever the input's size; a file's progress (texts, rate, ETA) goes to stderr every 5 s. Lines end at \\n, \\r\\n
or \\r (a TSV's rows at \\n or \\r\\n); a UTF-8 byte order mark is dropped. Like Taskflow, a text longer than the
model's input (--max_seq_length tokens) is truncated to it. A bad line (empty, control characters only, invalid
UTF-8) is reported on stderr with its line number, the other lines are still predicted, and the exit status is 1 at
the end. With a labelled TSV the accuracy goes to stderr.
"""
import contextlib
import json
import os
import re
import sys
import time

from ..cli import ArgumentParser, add_runtime_arguments, run_cli, settings_from
from ..data.reading import DataError, Example, open_binary, text_windows
from ..deploy.inference import Predictor, RuntimeSettings, text_problem
from ..log import logger


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", required=True, help="a directory written by export_model.py")
    source = parser.add_argument_group("input (default: stdin)")
    source.add_argument("--text", action="append", help="a text to classify; repeatable")
    source.add_argument("--input_file", help="one text per line, or a TSV with a header (label\\ttext_a)")
    parser.add_argument("--logits", action="store_true",
                        help="add each text's logits (every label's, in label order) to its line: a teacher's outputs "
                             "for distill_lstm.py --teacher_outputs")
    add_runtime_arguments(parser)
    args = parser.parse_args(argv)
    if args.text and args.input_file:
        parser.error("give --text or --input_file, not both")
    return args


WINDOW_LINES = 8192  # read, predicted and printed at a time: memory stays bounded whatever the input's size
PROGRESS_EVERY_S = 5.0


@contextlib.contextmanager
def input_stream(input_file):
    """The binary stream of --input_file, or of stdin."""
    if not input_file:
        if sys.stdin.isatty():
            print("reading texts from stdin, one per line; end with Ctrl-D (or give --text / --input_file)",
                  file=sys.stderr)
        yield sys.stdin.buffer
        return
    with open_binary(input_file, f"--input_file {input_file}") as stream:
        yield stream


class ProgressLine:
    """Texts done, rate and ETA on stderr every few seconds while a file is read (not a pipe: its size is unknown)."""

    def __init__(self, stream):
        try:
            self.total = os.fstat(stream.fileno()).st_size if stream is not sys.stdin.buffer else None
        except (OSError, ValueError):
            self.total = None
        self.stream, self.started = stream, time.time()
        self.last = self.started

    def update(self, texts):
        now = time.time()
        if self.total and now - self.last >= PROGRESS_EVERY_S:
            done = min(1.0, self.stream.tell() / self.total)
            eta = (now - self.started) * (1 - done) / done if done else 0
            print(f"predicted {texts:,} texts ({done:.0%} of the file), {texts / (now - self.started):,.0f} texts/s, "
                  f"eta {eta:.0f} s", file=sys.stderr, flush=True)
            self.last = now


_json_string = json.encoder.encode_basestring  # (the C function json.dumps(..., ensure_ascii=False) writes with)


def _json_number(x):
    return repr(x) if x - x == 0 else json.dumps(x)  # (NaN and infinities as json.dumps spells them)


def json_lines(texts, label_names, best, scores, logits=None):
    """The JSON lines of Predictor.predict's results, byte for byte what json.dumps(result, ensure_ascii=False) writes
    (test_predict checks it), formatted from the arrays directly: 4x faster, which a large file needs."""
    labels = [_json_string(name) for name in label_names]
    lines = [f'{{"text": {_json_string(text)}, "label": {labels[i]}, "score": {_json_number(round(score, 6))}'
             for text, i, score in zip(texts, best.tolist(), scores.tolist())]
    if logits is not None:
        lines = [f'{line}, "logits": [{", ".join(map(_json_number, row))}]'
                 for line, row in zip(lines, logits.tolist())]
    return "".join(line + "}\n" for line in lines)


def line_number(problem):
    """The line number in a "name:line: reason" message (0 if none)."""
    found = re.search(r":(\d+): ", problem)
    return int(found.group(1)) if found else 0


def predict_windows(predictor, windows, progress=None, with_logits=False, source="the input"):
    """Predict and print each window of (examples, problems) in input order; returns the exit status. (Reading the next
    window while the model runs this one was measured 6% slower: both want the GIL, which encoding holds.)"""
    predicted = correct = labelled = skipped = 0
    for examples, problems in windows:
        good = []
        for example in examples:
            problem = text_problem(example.text)
            if problem:
                problems.append(f"{example.source}: {problem}")
            else:
                good.append(example)
        for problem in sorted(problems, key=line_number):  # (those found in reading come first)
            print(f"skipped {problem}", file=sys.stderr)
        texts = [example.text for example in good]
        best, scores, logits = predictor.label_scores(texts)
        if texts:  # one write a window
            sys.stdout.write(json_lines(texts, predictor.label_names, best, scores, logits if with_logits else None))
            sys.stdout.flush()
        gold = [(example.label, i) for example, i in zip(good, best.tolist()) if example.label >= 0]
        labelled, correct = labelled + len(gold), correct + sum(label == i for label, i in gold)
        predicted, skipped = predicted + len(texts), skipped + len(problems)
        if progress:
            progress.update(predicted)
    if labelled:
        print(f"accuracy {correct / labelled:.4f} ({correct}/{labelled} labelled rows)", file=sys.stderr)
    if skipped:
        print(f"{skipped} input(s) could not be predicted (see above); {predicted} predicted", file=sys.stderr)
        return 1
    if not predicted:
        raise DataError(f"{source} holds no text to predict")
    return 0


def main(argv=None):
    args = parse_args(argv)
    predictor = Predictor.from_settings(args.model_dir, settings_from(RuntimeSettings, args))
    logger.info("the %s from %s, backend %s", predictor.manifest.kind, args.model_dir, predictor.backend)
    if predictor.manifest.untrained_warning():
        logger.warning(predictor.manifest.untrained_warning())
    if args.text:
        return predict_windows(predictor, [([Example(t, -1, f"--text #{i}") for i, t in enumerate(args.text, 1)], [])],
                               with_logits=args.logits)
    with input_stream(args.input_file) as stream:
        windows = text_windows(stream, args.input_file or "<stdin>", predictor.manifest.labels, WINDOW_LINES)
        source = f"--input_file {args.input_file}" if args.input_file else "stdin"
        return predict_windows(predictor, windows, ProgressLine(stream), args.logits, source)


def run():
    return run_cli(main)
