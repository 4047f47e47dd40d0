"""Predict with an exported model (export_model.py's output): a student on its compiled CPU kernel (numba), a teacher
on Paddle Inference (--backend auto, the default), or on the backend --backend names.

    python predict.py --model_dir tmp/export/student --text "这家酒店服务很好" --text "太差了"
    python predict.py --model_dir tmp/export/student --input_file texts.txt      # one text per line
    python predict.py --model_dir tmp/export/student --input_file dev.tsv        # labelled TSV: accuracy too
    cat texts.txt | python predict.py --model_dir tmp/export/student --backend onnx

Installed with the package (pip install ".[deploy]"), the same command is `ernie-distill-predict`.

Prints one JSON line per input, {"text", "label", "score"} (as PaddleNLP Taskflow does). Like Taskflow, a text
longer than the model's input (--max_seq_length tokens) is truncated to it. A bad line (empty, invalid UTF-8) is
reported on stderr with its line number, the other lines are still predicted, and the exit status is 1 at the end.
With a labelled TSV the accuracy goes to stderr.
"""
import json
import sys

from ..cli import ArgumentParser, add_runtime_arguments, run_cli, settings_from
from ..data.reading import DataError, Example, read_bytes, read_text_lines
from ..deploy.inference import Predictor, RuntimeSettings, text_problem


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", required=True, help="a directory written by export_model.py")
    source = parser.add_argument_group("input (default: stdin)")
    source.add_argument("--text", action="append", help="a text to classify; repeatable")
    source.add_argument("--input_file", help="one text per line, or a TSV with a header (label\\ttext_a)")
    add_runtime_arguments(parser)
    args = parser.parse_args(argv)
    if args.text and args.input_file:
        parser.error("give --text or --input_file, not both")
    return args


def read_inputs(texts, input_file, labels):
    """([Example with gold label index or -1], [problems]) from --text, --input_file or stdin."""
    if texts:
        items, problems = [Example(text, -1, f"--text #{i}") for i, text in enumerate(texts, start=1)], []
    else:
        name = input_file or "<stdin>"
        if input_file:
            raw = read_bytes(input_file, f"--input_file {input_file}")
        else:
            if sys.stdin.isatty():
                print("reading texts from stdin, one per line; end with Ctrl-D (or give --text / --input_file)",
                      file=sys.stderr)
            raw = sys.stdin.buffer.read()
        items, problems = read_text_lines(raw, name, labels)
    good = []
    for item in items:
        problem = text_problem(item.text)
        if problem:
            problems.append(f"{item.source}: {problem}")
        else:
            good.append(item)
    return good, problems


def main(argv=None):
    args = parse_args(argv)
    predictor = Predictor.from_settings(args.model_dir, settings_from(RuntimeSettings, args))
    items, problems = read_inputs(args.text, args.input_file, predictor.manifest.labels)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)

    results = predictor.predict([item.text for item in items])
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    gold = [(item.label, result) for item, result in zip(items, results) if item.label >= 0]
    if gold:
        correct = sum(predictor.label_names[label] == result["label"] for label, result in gold)
        print(f"accuracy {correct / len(gold):.4f} ({correct}/{len(gold)} labelled rows)", file=sys.stderr)
    if problems:
        print(f"{len(problems)} input(s) could not be predicted (see above); {len(results)} predicted",
              file=sys.stderr)
        return 1
    if not results:
        raise DataError("no input text (give --text, --input_file, or lines on stdin)")
    return 0


def run():
    return run_cli(main)
