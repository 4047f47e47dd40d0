"""Command-line plumbing shared by every script: one parser class, range-checked flag types, the flag groups the
scripts have in common, the default device, and `run_cli`, which turns bad input into one `error:` line (exit 2).

Every range is checked when the flags are parsed, before any data or model is loaded.
"""
import argparse
import math
import os
import sys

from .errors import InputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with exact flag names only (`--lr` must not quietly become `--lr_schedule`) and one-line errors."""

    def __init__(self, description, **kwargs):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                         allow_abbrev=False, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def bounded(cast, low=None, high=None, low_inclusive=True):
    """A flag type: `cast` of the text, finite, within [low, high] (or (low, high] when not low_inclusive)."""
    kind = "an integer" if cast is int else "a number"

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = low is not None and (value < low or (value == low and not low_inclusive))
        if too_low or (high is not None and value > high):
            low_part = "" if low is None else f"{'>=' if low_inclusive else '>'} {low}"
            high_part = "" if high is None else f"<= {high}"
            raise argparse.ArgumentTypeError(f"must be {' and '.join(p for p in (low_part, high_part) if p)}, got {text}")
        return value

    parse.__name__ = cast.__name__
    return parse


positive_int = bounded(int, 1)
non_negative_int = bounded(int, 0)
positive_float = bounded(float, 0, low_inclusive=False)
non_negative_float = bounded(float, 0)
probability = bounded(float, 0, 1)


def gpu_available():
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def default_device():
    """gpu when Paddle is built with CUDA and sees a GPU, else cpu: the scripts and run_all.sh share this."""
    return "gpu" if gpu_available() else "cpu"


def device(text):
    if text not in ("cpu", "gpu"):
        raise argparse.ArgumentTypeError(f"choose cpu or gpu, got {text!r}")
    if text == "gpu" and not gpu_available():
        raise argparse.ArgumentTypeError("gpu asked for, but this Paddle has no CUDA or sees no GPU: use --device cpu, "
                                         "or install paddlepaddle-gpu (see the README)")
    return text


def output_dir(text):
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file; give a directory (it is created if missing)")
    return text


def add_data_arguments(parser, max_seq_length_help, max_seq_length_limit=512, max_seq_length=128):
    """--task_name --data_dir --max_seq_length --skip_invalid --download_timeout: the training scripts' data flags."""
    data = parser.add_argument_group("data")
    data.add_argument("--task_name", default="ChnSentiCorp",
                      help="ChnSentiCorp (built in, case-insensitive), or your own task: a --data_dir with labels.txt")
    data.add_argument("--data_dir", help="folder with train.tsv and dev.tsv (default: PaddleNLP's download)")
    data.add_argument("--max_seq_length", type=bounded(int, 3, max_seq_length_limit), default=max_seq_length,
                      help=max_seq_length_help)
    data.add_argument("--skip_invalid", action="store_true", help="skip and count malformed rows instead of failing")
    data.add_argument("--download_timeout", type=positive_float, default=120,
                      help="seconds before a stalled download fails")
    return data


def add_run_arguments(parser, device_default=None):
    """--seed --device --output_dir --resume: where and how reproducibly a training script runs."""
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--device", type=device, default=device_default,
                     help="cpu or gpu (default: gpu when Paddle sees one)")
    run.add_argument("--output_dir", type=output_dir, required=True)
    run.add_argument("--resume", action="store_true",
                     help="continue from OUTPUT_DIR/checkpoint; refused if it was made by a different run")
    return run


def add_runtime_arguments(parser):
    """The Predictor's flags, shared by predict.py and serve.py; Predictor.from_args reads them back."""
    runtime = parser.add_argument_group("runtime")
    runtime.add_argument("--backend", choices=["paddle", "paddle-bf16", "onnx", "onnx-int8"], default="paddle",
                         help="paddle-bf16: oneDNN bfloat16 (for a teacher on a CPU with BF16); onnx-int8: the "
                              "quantized student written by export_model.py --quantize int8")
    runtime.add_argument("--device", type=device, default="cpu")
    runtime.add_argument("--cpu_threads", type=positive_int, default=2)
    runtime.add_argument("--batch_size", type=positive_int, default=32)
    runtime.add_argument("--max_seq_length", type=bounded(int, 3, 4096),
                         help="truncate longer inputs (default: the exported length)")
    return runtime


def run_cli(main):
    """Run a script's main(); an InputError becomes 'error: ...' on stderr and exit status 2."""
    try:
        status = main()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0
