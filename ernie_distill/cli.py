"""Command-line plumbing shared by every script: one parser class, range-checked flag types, the flag groups the
scripts have in common, the default device, and `run_cli`, which turns bad input into one `error:` line (exit 2)
and Ctrl-C into one line.

Every range is checked when the flags are parsed, before any data or model is loaded.
"""
import argparse
import dataclasses
import math
import multiprocessing
import os
import select
import signal
import sys
import threading

from .deploy.manifest import AUTO, BACKENDS
from .errors import InputError, missing_dependency, write_error
from .models.vocab import SEGMENTERS


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
            bounds = " and ".join(part for part in (low_part, high_part) if part)
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    parse.__name__ = cast.__name__
    return parse


positive_int = bounded(int, 1)
non_negative_int = bounded(int, 0)
positive_float = bounded(float, 0, low_inclusive=False)
non_negative_float = bounded(float, 0)
probability = bounded(float, 0, 1)


def boolean(text):
    """A flag type for PaddleNLP's `--flag True/False` spelling (with nargs="?" and const=True, `--flag` alone too)."""
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def gpu_available():
    """Paddle with CUDA and a GPU; without Paddle (the [deploy] install), ONNX Runtime's CUDA provider."""
    try:
        import paddle
    except ImportError:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def default_device():
    """gpu when Paddle is built with CUDA and sees a GPU, else cpu: the scripts and run_all.sh share this."""
    return "gpu" if gpu_available() else "cpu"


def device(text):
    if text not in ("cpu", "gpu"):
        raise argparse.ArgumentTypeError(f"choose cpu or gpu, got {text!r}")
    if text == "gpu" and not gpu_available():
        raise argparse.ArgumentTypeError("gpu asked for, but this Paddle has no CUDA or sees no GPU: use --device cpu, "
                                         "or install paddlepaddle-gpu (docs/faq.md, How do I use a GPU?)")
    return text


def existing_dir(text):
    """A directory that must exist (--model_dir): a wrong path is the flag's error, before anything loads."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory" if os.path.exists(text) else
                                         f"{text} does not exist")
    return text


def output_dir(text):
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file; give a directory (it is created if missing)")
    return text


def add_data_arguments(parser, max_seq_length_help, max_seq_length_limit=512, max_seq_length=128):
    """--task_name --data_dir --max_seq_length --skip_invalid --download_timeout: the training scripts' data flags."""
    data = parser.add_argument_group("data")
    data.add_argument("--task_name",
                      help="ChnSentiCorp (built in, case-insensitive; the default), or the name of your own task: a "
                           "--data_dir with labels.txt (default: the folder's name)")
    data.add_argument("--data_dir", help="folder with train.tsv and dev.tsv (default: PaddleNLP's download)")
    data.add_argument("--max_seq_length", type=bounded(int, 3, max_seq_length_limit), default=max_seq_length,
                      help=max_seq_length_help)
    data.add_argument("--skip_invalid", action="store_true", help="skip and count malformed rows instead of failing")
    data.add_argument("--download_timeout", type=positive_float, default=120,
                      help="seconds before a stalled download fails")
    return data


def add_run_arguments(parser, output_required=True):
    """--seed --device --output_dir --resume --logging_dir: where and how reproducibly a training script runs."""
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--device", type=device, default=default_device(),
                     help="cpu or gpu (default: gpu when Paddle sees one)")
    run.add_argument("--output_dir", type=output_dir, required=output_required)
    run.add_argument("--resume", action="store_true",
                     help="continue from OUTPUT_DIR/checkpoint; refused if it was made by a different run")
    run.add_argument("--logging_dir",
                     help="VisualDL logs, where VisualDL is installed (default: OUTPUT_DIR/runs/DATE_HOST, as "
                          "PaddleNLP's Trainer); the curves are drawn in OUTPUT_DIR/curves.png either way")
    return run


def add_student_input_arguments(parser):
    """What the student reads (StudentInputs' settings) and how its layers are sized."""
    inputs = parser.add_argument_group("student inputs (built from the training texts) and model")
    inputs.add_argument("--tokens", choices=["chars", "words"], default="chars",
                        help="what the Bi-LSTM reads: characters, or words (--segmenter) as in Tang et al.")
    inputs.add_argument("--vocab_min_freq", type=positive_int, default=2)
    inputs.add_argument("--vocab_max_size", type=bounded(int, 4), default=30000)
    inputs.add_argument("--ngram_max", type=bounded(int, 0, 3), default=3,
                        help="the bag holds character 1..N-grams (0: no bag, the Bi-LSTM alone)")
    inputs.add_argument("--ngram_words", action=argparse.BooleanOptionalAction, default=True,
                        help="the bag also holds the text's words")
    inputs.add_argument("--segmenter", choices=SEGMENTERS, default="rjieba",
                        help="words for the bag and --tokens words: rjieba (jieba's algorithm in Rust, 14x faster) "
                             "or jieba")
    inputs.add_argument("--ngram_min_freq", type=positive_int, default=5)
    inputs.add_argument("--ngram_max_size", type=bounded(int, 4), default=55000)
    inputs.add_argument("--embedding_dim", type=positive_int, default=200)
    inputs.add_argument("--pretrained_embeddings", metavar="FILE_OR_NAME",
                        help="start the token embedding from pretrained vectors: a word2vec text or binary file (e.g. "
                             "Tencent AI Lab's), or a PaddleNLP TokenEmbedding name (downloaded); only the "
                             "vocabulary's rows are read")
    inputs.add_argument("--ngram_dim", type=positive_int, default=64, help="embedding size of the bag")
    inputs.add_argument("--hidden_size", type=positive_int,
                        help="the Bi-LSTM's width each way; default: 32 for two classes, 128 for more (a narrow "
                             "Bi-LSTM loses rare classes; measured in docs/results.md)")
    inputs.add_argument("--num_layers", type=positive_int, default=1)
    inputs.add_argument("--dropout", type=bounded(float, 0, 0.95), default=0.3)
    return inputs


def add_distillation_arguments(parser):
    """Teachers, unlabeled texts, Tang et al.'s augmentation and the soft-target loss; transfer_set.py reads them."""
    distill = parser.add_argument_group("distillation (with --teacher_dir or --teacher_outputs)")
    distill.add_argument("--teacher_dir", action="append",
                         help="a teacher: run_glue.py's best_model, a PaddleNLP save_pretrained dir or an "
                              "export_model.py dir; repeat it to distil from the mean of several teachers' logits; "
                              "omit it (and --teacher_outputs) to train on hard labels")
    distill.add_argument("--teacher_outputs", action="append", metavar="FILE",
                         help="a teacher run elsewhere: its logits (or probabilities) for every text of the "
                              "--write_transfer_set file, as predict.py --logits prints them; repeatable, and "
                              "combines with --teacher_dir")
    distill.add_argument("--teacher_weights", type=non_negative_float, nargs="+",
                         help="one weight per teacher (each --teacher_dir, then each --teacher_outputs) for the mean "
                              "of their logits (default: equal)")
    distill.add_argument("--write_transfer_set", metavar="FILE",
                         help="write the transfer set's texts (one a line) to FILE for a teacher elsewhere, and stop")
    distill.add_argument("--unlabeled_file", action="append", metavar="FILE",
                         help="texts without labels for the transfer set: one a line, or a TSV's text_a column; "
                              "repeatable. Duplicates (of each other, of training, dev and test texts) are left out")
    distill.add_argument("--unlabeled_max", type=positive_int, help="use at most N unlabeled texts (a seeded sample)")
    distill.add_argument("--augment_unlabeled", action="store_true",
                         help="also add augmented copies of the unlabeled texts (--n_iter each)")
    distill.add_argument("--alpha", type=probability, default=0.5,
                         help="weight of the gold labels' cross-entropy, on the labelled rows (Tang et al.: 0)")
    distill.add_argument("--distill_loss", choices=["mse", "kl"], default="mse")
    distill.add_argument("--temperature", type=bounded(float, 0.05, 100), default=1.0, help="for --distill_loss kl")
    distill.add_argument("--n_iter", type=non_negative_int, default=5,
                         help="augmented copies per training example (Tang et al.: 20, for data sets of a few thousand)")
    distill.add_argument("--p_mask", type=probability, default=0.1)
    distill.add_argument("--p_pos", type=probability, default=0.1)
    distill.add_argument("--p_ng", type=probability, default=0.25)
    distill.add_argument("--max_ngram", type=positive_int, default=5)
    distill.add_argument("--teacher_batch_size", type=positive_int, default=64)
    distill.add_argument("--teacher_backend", choices=(AUTO, "paddle", "paddle-bf16", "onnx-int8"), default=AUTO,
                         help="what runs a --teacher_dir over the transfer set. auto: on a CPU, a transformer "
                              "quantized to int8 for ONNX Runtime (exported so once; 2.9x float32 here), else oneDNN "
                              "bfloat16 where the CPU has BF16, else paddle; on a GPU, paddle; a student's compiled "
                              "kernel. paddle: float32, exact. Teacher logits are cached per backend")
    distill.add_argument("--cache_dir", default="./tmp/cache", help="where transfer sets and teacher logits are kept")
    return distill


def settings_from(cls, namespace, **given):
    """A settings dataclass from the parsed flags of the same names (and `given` values): scripts hand library code
    typed settings, never their argparse namespace."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if f.name not in given}, **given)


def add_runtime_arguments(parser):
    """The Predictor's flags, shared by predict.py and serve.py: a RuntimeSettings (deploy.inference)."""
    runtime = parser.add_argument_group("runtime")
    runtime.add_argument("--backend", choices=(AUTO, *BACKENDS), default=AUTO,
                         help="auto (the default): on a CPU a student's compiled kernel (numba, the fastest) when "
                              "its export has one, else its ONNX model (float, then int8), else paddle; paddle for a "
                              "teacher or on a GPU. paddle-bf16: oneDNN bfloat16 (for a teacher on a CPU with BF16); "
                              "onnx-int8: the quantized student written by export_model.py --quantize int8")
    runtime.add_argument("--device", type=device, default="cpu")
    runtime.add_argument("--cpu_threads", type=positive_int, default=2)
    runtime.add_argument("--batch_size", type=positive_int, default=32)
    runtime.add_argument("--max_seq_length", type=bounded(int, 3, 4096),
                         help="truncate longer inputs (default: the exported length)")
    return runtime


class Terminated(SystemExit):
    """SIGTERM, raised where the command is (quiet_signals): its cleanup runs, and it exits with status 143, as a
    shell reports a process the signal ended, without a traceback."""


_terminated_by = None  # the signal quiet_signals' handler received, for the life of the process


def _terminate(signum, _frame):
    global _terminated_by
    _terminated_by = signum  # kept: a library's broad `except` may swallow the exception on its way
    raise Terminated(128 + signum)


def terminated():
    """Whether SIGTERM came (quiet_signals' handler) in this process, even where the Terminated it raised was
    swallowed."""
    return _terminated_by is not None


def raise_if_terminated():
    """Terminated again where SIGTERM came and its exception was swallowed (imports in numba's did, 1 start in 6)."""
    if _terminated_by is not None:
        raise Terminated(128 + _terminated_by)


def quiet_signals():
    """From a command's first import (ernie_distill.commands): Ctrl-C ends it with one line, `interrupted`, and SIGTERM
    quietly (Terminated), even while it imports its modules or loads its model, before run_cli runs. In a worker
    process Ctrl-C is for its parent to report. Imported from another thread (a program using a command's functions),
    nothing: a command's handlers are set in its main thread, and Python allows no other."""
    if threading.current_thread() is not threading.main_thread():
        return
    if multiprocessing.current_process().name != "MainProcess":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.excepthook = _interrupted_in_one_line
    signal.signal(signal.SIGTERM, _terminate)


def _stdout_gone():
    """Whether standard output is a pipe or socket whose reader has gone (`command | head -1`)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):  # no stdout, or one without a file descriptor
        return False


def run_cli(main):
    """Run a script's main(). An InputError, an OSError of a full disk or a read-only location, or a missing dependency
    (with the command that installs it) becomes 'error: ...' on stderr and exit status 2. Ctrl-C becomes one line,
    `interrupted` (with what the script adds, such as how to resume), and the process then ends as Python ends an
    interrupted one, killed by SIGINT (status 130 in a shell, which also stops a loop running the script), only without
    the traceback. A standard output closed by its reader (`predict.py ... | head -1`) ends the command quietly with
    status 1, as Python's documentation advises (the note on SIGPIPE in the signal module's)."""
    try:
        status = main()
        sys.stdout.flush()  # (here, not at exit: a reader gone is then seen below)
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere at exit
        return 1
    except (InputError, OSError) as err:
        if isinstance(err, OSError):  # a full disk, a read-only or forbidden path that no writer named: name it
            err = write_error(err.filename or "the output", err, "access")
            if err is None:
                raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # a dependency this Python lacks: the command that installs it
        missing = missing_dependency(err)
        if missing is None:
            raise
        print(f"error: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr, flush=True)
        sys.excepthook = _no_traceback_for_interrupts
        raise
    return status if isinstance(status, int) else 0


def _interrupted_in_one_line(kind, value, traceback):
    if issubclass(kind, KeyboardInterrupt) and multiprocessing.current_process().name == "MainProcess":
        print(f"interrupted: {value}" if str(value) else "interrupted", file=sys.stderr, flush=True)
    elif not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)


def _no_traceback_for_interrupts(kind, value, traceback):
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
