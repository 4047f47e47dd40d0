"""Predict with an exported model (export_model.py's output): a student on its compiled CPU kernel (numba), a teacher
on Paddle Inference (--backend auto, the default), or on the backend --backend names.

    python predict.py --model_dir tmp/export/student --text "这家酒店服务很好" --text "太差了"
    python predict.py --model_dir tmp/export/student --input_file texts.txt      # one text per line
    python predict.py --model_dir tmp/export/student --input_file dev.tsv        # labelled TSV: accuracy too
    cat texts.txt | python predict.py --model_dir tmp/export/student --backend onnx
    python predict.py --model_dir tmp/export/student --input_file <(tail -n +2 dev.tsv | cut -f2)  # FIFO, /dev/stdin, -
    python predict.py --model_dir tmp/export/teacher --input_file big.txt --logits --output_file out.jsonl
    python -m paddle.distributed.launch --gpus 0,1 predict.py ... --output_file out.jsonl   # ranks share the file
    python predict.py --model_dir tmp/export/student --engine ray --input_file big.txt --output_file out.jsonl

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
import stat
import sys
import time

from ..cli import ArgumentParser, add_runtime_arguments, existing_dir, positive_int, run_cli, settings_from
from ..data.reading import STDIN, Example, open_binary, text_windows
from ..deploy.inference import Predictor, RuntimeSettings, text_problem
from ..deploy.ray_engine import RaySettings
from ..deploy.sharded_output import Parts, Shard, Tally, parts_fingerprint, write_atomically
from ..log import logger


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", type=existing_dir, required=True, help="a directory written by export_model.py")
    source = parser.add_argument_group("input (default: stdin)")
    source.add_argument("--text", action="append", help="a text to classify; repeatable")
    source.add_argument("--input_file", help="one text per line, or a TSV with a header (label\\ttext_a); a file, a "
                        "FIFO, /dev/stdin, <(command), or - for stdin")
    parser.add_argument("--output_file",
                        help="write the JSON lines to this new file (atomically: it appears once complete) instead of "
                             "stdout; an --input_file is then done in parts of --part_lines lines, kept until the "
                             "file is whole, so that a rerun of a killed run redoes only unfinished parts; under "
                             "paddle.distributed.launch each rank does its share of the parts (docs/scale.md)")
    parser.add_argument("--part_lines", type=positive_int, default=WINDOW_LINES,
                        help="with --output_file: lines of input a part (what a killed run loses at most)")
    parser.add_argument("--logits", action="store_true",
                        help="add each text's logits (every label's, in label order) to its line: a teacher's outputs "
                             "for distill_lstm.py --teacher_outputs")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process; ray: a student scores --input_file into --output_file on a Ray "
                             "cluster (pip install \".[deploy,ray]\"; docs/scale.md)")
    engine.add_argument("--ray_address", help="with --engine ray: an existing cluster (auto, ray://HOST:10001); "
                                              "default: an embedded local cluster of this machine's CPUs")
    engine.add_argument("--num_workers", type=positive_int,
                        help="with --engine ray: workers, each loading the model once and using --cpu_threads CPUs "
                             "(default: as many as the cluster holds)")
    add_runtime_arguments(parser)
    args = parser.parse_args(argv)
    if args.engine == "ray" and not (args.input_file and args.output_file):
        parser.error("--engine ray scores an --input_file into an --output_file: give both")
    if args.engine == "ray" and args.input_file == STDIN:
        parser.error("--engine ray reads --input_file from its workers: give a file's path, not standard input")
    if args.engine != "ray" and (args.ray_address or args.num_workers):
        parser.error("--ray_address and --num_workers go with --engine ray")
    if args.text and args.input_file:
        parser.error("give --text or --input_file, not both")
    if Shard.from_launcher().count > 1 and not (args.input_file and args.output_file):
        parser.error("under paddle.distributed.launch give --input_file and --output_file: the ranks share out the "
                     "file's lines and rank 0 writes the one output")
    if args.output_file and os.path.exists(args.output_file):
        parser.error(f"--output_file {args.output_file} exists: give a new path (predict.py replaces nothing it did "
                     "not write)")
    return args


WINDOW_LINES = 8192  # read, predicted and printed at a time: memory stays bounded whatever the input's size
PROGRESS_EVERY_S = 5.0


@contextlib.contextmanager
def input_stream(input_file):
    """The binary stream of --input_file (a file, a FIFO, /dev/stdin, <(...), "-" for stdin), or of stdin."""
    if input_file in (None, STDIN) and sys.stdin.isatty():
        print("reading texts from stdin, one per line; end with Ctrl-D (or give --text / --input_file)",
              file=sys.stderr)
    with open_binary(input_file or STDIN, f"--input_file {input_file}") as stream:
        yield stream


class ProgressLine:
    """Texts done, rate and ETA on stderr every few seconds while a file is read (not a pipe: its size is unknown);
    or, given `total` bytes, at the byte position update() is told."""

    def __init__(self, stream=None, total=None):
        self.total = total
        if stream is not None:
            status = os.fstat(stream.fileno())
            self.total = status.st_size if stat.S_ISREG(status.st_mode) else None
        self.stream, self.started = stream, time.time()
        self.last = self.started

    def update(self, texts, position=None):
        now = time.time()
        if self.total and now - self.last >= PROGRESS_EVERY_S:
            done = min(1.0, (self.stream.tell() if position is None else position) / self.total)
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


def predict_window(predictor, examples, problems, with_logits=False):
    """One window of (examples, problems): its JSON lines (in input order) and a Tally; its problems are reported on
    stderr in line order. (Reading the next window while the model runs this one was measured 6% slower: both want the
    GIL, which encoding holds.)"""
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
    lines = json_lines(texts, predictor.label_names, best, scores, logits if with_logits else None) if texts else ""
    gold = [(example.label, i) for example, i in zip(good, best.tolist()) if example.label >= 0]
    return lines, Tally(len(texts), len(gold), sum(label == i for label, i in gold), len(problems))


def predict_windows(predictor, windows, progress=None, with_logits=False, source="the input", out=None):
    """Predict each window of (examples, problems) and write it to `out` (stdout) in input order; returns the exit
    status."""
    out, total = out or sys.stdout, Tally()
    for examples, problems in windows:
        lines, tally = predict_window(predictor, examples, problems, with_logits)
        if lines:  # one write a window
            out.write(lines)
            out.flush()
        total = total + tally
        if progress:
            progress.update(total.predicted)
    return total.report(source)


def main(argv=None):
    args = parse_args(argv)
    runtime = settings_from(RuntimeSettings, args)
    if args.engine == "ray":
        return to_output(args.output_file, lambda out: predict_on_ray(
            args.input_file, args.model_dir, runtime, RaySettings(args.ray_address, args.num_workers), args.logits,
            out))
    predictor = Predictor.from_settings(args.model_dir, runtime)
    logger.info("the %s from %s, backend %s", predictor.manifest.kind, args.model_dir, predictor.backend)
    if predictor.manifest.untrained_warning():
        logger.warning(predictor.manifest.untrained_warning())
    if args.text:
        windows = [([Example(t, -1, f"--text #{i}") for i, t in enumerate(args.text, 1)], [])]
        return to_output(args.output_file, lambda out: predict_windows(predictor, windows, None, args.logits, out=out))
    with input_stream(args.input_file) as stream:
        stdin = args.input_file in (None, STDIN)
        source = "stdin" if stdin else f"--input_file {args.input_file}"
        if args.output_file and not stdin and stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            # in parts: a rerun resumes, the launcher's ranks share them out
            windows = text_windows(stream, args.input_file, predictor.manifest.labels, args.part_lines)
            parts = Parts(args.output_file, parts_fingerprint(args.input_file, predictor.manifest, args.logits,
                                                              runtime, args.part_lines))
            return parts.predict(windows, lambda window: predict_window(predictor, *window, args.logits),
                                 Shard.from_launcher(), ProgressLine(stream), source)
        windows = text_windows(stream, "<stdin>" if stdin else args.input_file, predictor.manifest.labels, WINDOW_LINES)
        return to_output(args.output_file, lambda out: predict_windows(predictor, windows, ProgressLine(stream),
                                                                       args.logits, source, out))


def predict_on_ray(input_file, model_dir, runtime, ray_settings, with_logits, out):
    """--engine ray: the rows in input order from the Ray workers, written as predict_windows writes them."""
    from ..deploy.ray_engine import input_size, scored_batches, start

    size, began = input_size(input_file), time.time()  # (a TSV is refused before Ray starts)
    cpus = start(ray_settings.address)
    logger.info("Ray cluster of %g CPUs ready in %.1f s (%s); scoring %s", cpus, time.time() - began,
                ray_settings.address or "embedded, local", input_file)
    total, progress = Tally(), ProgressLine(total=size)
    for batch in scored_batches(input_file, model_dir, runtime, ray_settings, json_lines, with_logits):
        for offset, problem in batch["skipped"]:
            print(f"skipped {input_file} at byte {offset}: {problem}", file=sys.stderr)
        out.write(batch["lines"])
        total = total + Tally(predicted=batch["texts"], skipped=len(batch["skipped"]))
        progress.update(total.predicted, batch["end"])
    return total.report(f"--input_file {input_file}")


def to_output(output_file, predict):
    """predict(stream) on stdout, or on --output_file written atomically."""
    return write_atomically(output_file, predict) if output_file else predict(sys.stdout)


def run():
    return run_cli(main)
