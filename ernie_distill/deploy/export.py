"""Exporting a trained model for deployment: a student (distill_lstm.py's best_model) or a teacher (run_glue.py's
best_model, or any PaddleNLP save_pretrained directory), as export_model.py and distillation's teacher pass do it.

The output directory holds the static program and weights, the vocabulary or tokenizer files, [inference.onnx], for a
student inference.npz (its compiled kernel's weights), and manifest.json (model kind, labels, input lengths, SHA-256
of each file). The exported model is checked against the dygraph model on a mixed-length batch before the directory
is swapped in (atomically; into a mount point file by file, the manifest last); an export that disagrees is never
written.
"""
import dataclasses
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import paddle

from ..atomic import contents, save_dir_atomically
from ..errors import InputError
from ..log import logger
from ..models.student import is_student_dir, load_student, num_parameters
from .inference import Predictor, program_file
from .manifest import INT8_ONNX_FILE, KERNEL_FILE, MANIFEST_FILE, MODEL_PREFIX, ONNX_FILE, Manifest, sha256_of
from .student_kernel import kernel_weights


@dataclass
class ExportSettings:
    """export_model.py's flags."""

    model_dir: str
    output_path: str
    max_seq_length: Optional[int] = None  # default: the length the model was trained with
    onnx: bool = False
    quantize: Optional[str] = None  # "int8": also a dynamically quantized ONNX model (implies onnx)
    opset_version: int = 11
    task: object = None  # a Task: the labels of a plain save_pretrained teacher (default: its config's)


# Mixed lengths on purpose: padding bugs only show when short and long rows share a batch.
PROBE_TEXTS = [
    "好",
    "这家酒店的服务非常好，房间也很干净，下次还会再来。",
    "书的内容一般，纸张质量太差了，送货也很慢，不推荐购买。" * 6,
    "屏幕不错",
    "The hotel is OK, 早餐一般般，位置很方便！",
]
TOLERANCE = 1e-5


def check_output_path(output_path, model_dir):
    """Refuse (before anything is written) an --output_path whose replacement would destroy anything but an export."""
    output, model = os.path.realpath(output_path), os.path.realpath(model_dir)
    if output == model or model.startswith(output + os.sep) or output.startswith(model + os.sep):
        where = "is" if output == model else "contains" if model.startswith(output + os.sep) else "is inside"
        raise InputError(f"--output_path {output_path} {where} --model_dir {model_dir}; export to a directory of its "
                         "own, e.g. next to it")
    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError(f"--output_path {output_path} is a file; give a directory (it is created if missing)")
    if os.path.isdir(output) and contents(output) and not os.path.isfile(os.path.join(output, MANIFEST_FILE)):
        raise InputError(f"--output_path {output_path} is a non-empty directory that is not an earlier export (no "
                         f"{MANIFEST_FILE}); export only replaces an earlier export: choose a new or empty directory")


@dataclass
class ExportSource:
    """A trained model loaded for export, with what the manifest says about it."""
    kind: str  # "student" or "teacher"
    model: paddle.nn.Layer
    input_spec: list
    info: dict  # student_info.json or teacher_info.json
    save_vocabulary: Callable[[str], None]  # writes the vocabulary or tokenizer files into a directory
    vocab_size: int
    max_input_length: Optional[int]  # a transformer's position table; None for the LSTM


def load_model(model_dir, task=None):
    if is_student_dir(model_dir):
        model, inputs, info = load_student(model_dir)
        spec = [paddle.static.InputSpec([None, None] if name != "seq_len" else [None], "int64", name)
                for name in inputs.input_names]
        return ExportSource("student", model, spec, info, inputs.save, model.embedding.weight.shape[0], None)
    from ..models.teacher import load_teacher  # PaddleNLP is only imported for a teacher

    model, tokenizer, info = load_teacher(model_dir, task)
    spec = [paddle.static.InputSpec([None, None], "int64", "input_ids"),
            paddle.static.InputSpec([None, None], "int64", "token_type_ids")]
    return ExportSource("teacher", model, spec, info, tokenizer.save_pretrained, model.config.vocab_size,
                        model.config.max_position_embeddings)


@paddle.no_grad()
def dygraph_logits(model, encoder, texts):
    """Each text alone, unpadded: the reference the padded exported batch must match."""
    rows = []
    for encoded in encoder.encode(texts):
        inputs = {k: paddle.to_tensor(v) for k, v in encoder.batch([encoded]).items()}
        rows.append(model(*inputs.values()).numpy()[0])
    return np.stack(rows)


def check_parity(name, expected, actual):
    diff = float(np.abs(expected - actual).max())
    logger.info("parity %s: max |logit difference| %.2e on a mixed-length batch of %d", name, diff, len(expected))
    if not diff <= TOLERANCE:
        raise RuntimeError(f"exported model disagrees with {name} by {diff:.2e} (> {TOLERANCE}); export aborted")
    return diff


def write_export(out, source, settings, max_seq_length):
    """Program, weights, vocabulary, [ONNX], manifest into `out`; then the parity checks, recorded in the manifest."""
    paddle.jit.save(paddle.jit.to_static(source.model, input_spec=source.input_spec, full_graph=True),
                    os.path.join(out, MODEL_PREFIX))
    source.save_vocabulary(out)
    if source.kind == "student":
        weights = kernel_weights({k: v.numpy() for k, v in source.model.state_dict().items()},
                                 source.model.config.num_layers)
        if weights is None:
            logger.info("no %s: the compiled kernel runs students of one LSTM layer", KERNEL_FILE)
        else:
            np.savez(os.path.join(out, KERNEL_FILE), **weights)
    if settings.onnx or settings.quantize:
        from .onnx_export import paddle_to_onnx

        paddle_to_onnx(program_file(out), os.path.join(out, MODEL_PREFIX + ".pdiparams"), os.path.join(out, ONNX_FILE),
                       settings.opset_version)
    if settings.quantize:
        from .onnx_export import quantize_int8

        ops = quantize_int8(os.path.join(out, ONNX_FILE), os.path.join(out, INT8_ONNX_FILE))
        quantized = [f"{op} x{n}" for op, n in ops.items() if "Quant" in op or "Integer" in op]
        logger.info("int8 model: %s", ", ".join(quantized))
    info = source.info
    manifest = Manifest(
        kind=source.kind, model_type=info.get("model_type", "bilstm"), max_seq_length=max_seq_length,
        labels=info["labels"], label_names=info["label_names"], inputs=[s.name for s in source.input_spec],
        num_parameters=num_parameters(source.model),
        files={name: sha256_of(os.path.join(out, name)) for name in sorted(os.listdir(out))
               if os.path.isfile(os.path.join(out, name))},
        paddle_version=paddle.__version__, python=platform.python_version(),
        source_dir=os.path.abspath(settings.model_dir), vocab_size=source.vocab_size,
        max_input_length=source.max_input_length, dev_accuracy=info.get("dev_accuracy"), mode=info.get("mode"),
        pretrained=info.get("pretrained", (info.get("teacher") or {}).get("pretrained")),
        task_name=info.get("task_name"),
    )
    manifest.write(out)

    predictor = Predictor(out, "paddle", batch_size=len(PROBE_TEXTS))  # also checks the hashes just written
    reference = dygraph_logits(source.model, predictor.encoder, PROBE_TEXTS)
    exported = predictor.logits(PROBE_TEXTS)
    manifest.parity["paddle_inference_vs_dygraph"] = check_parity("Paddle Inference vs dygraph", reference, exported)
    if KERNEL_FILE in manifest.files:
        kernel_logits = Predictor(out, "numba", batch_size=len(PROBE_TEXTS)).logits(PROBE_TEXTS)
        manifest.parity["numba_vs_dygraph"] = check_parity("numba kernel vs dygraph", reference, kernel_logits)
    if settings.onnx or settings.quantize:
        onnx_logits = Predictor(out, "onnx", batch_size=len(PROBE_TEXTS)).logits(PROBE_TEXTS)
        manifest.parity["onnx_vs_paddle_inference"] = check_parity("ONNX Runtime vs Paddle Inference", exported,
                                                                   onnx_logits)
    if settings.quantize:  # int8 moves the numbers a little: how much is recorded; its accuracy is the benchmark's
        int8_logits = Predictor(out, "onnx-int8", batch_size=len(PROBE_TEXTS)).logits(PROBE_TEXTS)
        manifest.parity["int8_vs_float32_max_logit_difference"] = float(np.abs(int8_logits - exported).max())
        manifest.parity["int8_vs_float32_same_labels"] = float((int8_logits.argmax(1) == exported.argmax(1)).mean())
        logger.info("int8 vs float32 on the probe texts: max |logit difference| %.3f, same label for %.0f%%",
                    manifest.parity["int8_vs_float32_max_logit_difference"],
                    100 * manifest.parity["int8_vs_float32_same_labels"])
    manifest.write(out)


NO_PADDLE2ONNX_FROM = (3, 13)  # the first Python without a paddle2onnx build


def without_onnx_where_it_cannot_be_made(settings):
    """The settings, without --onnx and --quantize where paddle2onnx has no build for this Python (3.13: said in one
    warning; the rest of the export is made). Elsewhere a missing paddle2onnx is one error naming its install."""
    if not (settings.onnx or settings.quantize) or importlib.util.find_spec("paddle2onnx") is not None:
        return settings
    if sys.version_info[:2] >= NO_PADDLE2ONNX_FROM:
        logger.warning("no ONNX export on Python %d.%d: paddle2onnx has no build for it; writing the Paddle Inference "
                       "program (and a student's compiled kernel) only. Export on Python 3.10-3.12 for ONNX Runtime",
                       *sys.version_info[:2])
        return dataclasses.replace(settings, onnx=False, quantize=None)
    raise InputError("--onnx and --quantize need paddle2onnx, which is not installed: pip install 'paddle2onnx>=2' "
                     "(Paddle 3) or 'paddle2onnx<2' (Paddle 2)")


def export(settings):
    """Check, load, write and verify the export of settings.model_dir into settings.output_path; returns its files."""
    check_output_path(settings.output_path, settings.model_dir)
    settings = without_onnx_where_it_cannot_be_made(settings)
    source = load_model(settings.model_dir, settings.task)
    source.model.eval()
    max_seq_length = settings.max_seq_length or source.info["max_seq_length"]
    if source.max_input_length is not None and max_seq_length > source.max_input_length:
        raise InputError(f"--max_seq_length {max_seq_length} is over the {source.max_input_length} positions of "
                         f"{settings.model_dir}; use at most {source.max_input_length}")
    save_dir_atomically(settings.output_path, lambda out: write_export(out, source, settings, max_seq_length),
                        last=(MANIFEST_FILE,))
    files = contents(settings.output_path)
    size_mb = sum(os.path.getsize(os.path.join(settings.output_path, f)) for f in files) / 2**20
    logger.info("exported %s (%s) to %s: %s (%.1f MB)", source.kind, settings.model_dir, settings.output_path,
                ", ".join(files), size_mb)
    return files
