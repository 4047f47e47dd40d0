"""Export a trained student (distill_lstm.py's best_model) or teacher (run_glue.py's best_model) for deployment.

    python export_model.py --model_dir tmp/student/best_model --output_path tmp/export/student [--onnx]

OUTPUT_PATH becomes a self-contained directory: inference.json (Paddle 3 PIR program; inference.pdmodel under
Paddle <= 2.6) + inference.pdiparams, the vocabulary or tokenizer files, [inference.onnx], and manifest.json
(model kind, labels, max sequence length, SHA-256 of each file). After export the exported model is checked against
the dygraph model on a mixed-length batch; the export fails if they disagree.
"""
import argparse
import os
import platform
import sys

import numpy as np
import paddle

from ernie_distill.inference import FORMAT_VERSION, MANIFEST, MODEL_PREFIX, ONNX_FILE, Predictor, program_file, sha256_of
from ernie_distill.cli import run_cli
from ernie_distill.atomic import save_dir_atomically, write_json
from ernie_distill.log import logger
from ernie_distill.student import is_student_dir, load_student, num_parameters

# Mixed lengths on purpose: padding bugs only show when short and long rows share a batch.
PROBE_TEXTS = [
    "好",
    "这家酒店的服务非常好，房间也很干净，下次还会再来。",
    "书的内容一般，纸张质量太差了，送货也很慢，不推荐购买。" * 6,
    "屏幕不错",
    "The hotel is OK, 早餐一般般，位置很方便！",
]
TOLERANCE = 1e-5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a best_model directory (student or teacher)")
    parser.add_argument("--output_path", required=True, help="the deployment directory to write")
    parser.add_argument("--max_seq_length", type=int, help="default: the length the model was trained with")
    parser.add_argument("--onnx", action="store_true", help="also write inference.onnx (for ONNX Runtime)")
    parser.add_argument("--opset_version", type=int, default=11)
    return parser.parse_args(argv)


def load_model(model_dir):
    """(kind, dygraph model, input spec, info, writer of the vocabulary/tokenizer files)."""
    if is_student_dir(model_dir):
        model, vocab, info = load_student(model_dir)
        spec = [paddle.static.InputSpec([None, None], "int64", "input_ids"),
                paddle.static.InputSpec([None], "int64", "seq_len")]
        return "student", model, spec, info, lambda out: vocab.save(os.path.join(out, "vocab.txt"))
    from ernie_distill.teacher import load_teacher  # PaddleNLP is only imported for a teacher

    model, tokenizer, info = load_teacher(model_dir)
    spec = [paddle.static.InputSpec([None, None], "int64", "input_ids"),
            paddle.static.InputSpec([None, None], "int64", "token_type_ids")]
    return "teacher", model, spec, info, tokenizer.save_pretrained


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


def main(argv=None):
    args = parse_args(argv)
    kind, model, input_spec, info, save_vocab = load_model(args.model_dir)
    model.eval()
    max_seq_length = args.max_seq_length or info["max_seq_length"]

    def write(out):
        paddle.jit.save(paddle.jit.to_static(model, input_spec=input_spec, full_graph=True),
                       os.path.join(out, MODEL_PREFIX))
        save_vocab(out)
        manifest = {
            "format_version": FORMAT_VERSION, "kind": kind, "model_type": info.get("model_type", "bilstm"),
            "max_seq_length": max_seq_length, "labels": info["labels"], "label_names": info["label_names"],
            "inputs": [s.name for s in input_spec], "num_parameters": num_parameters(model),
            "dev_accuracy": info.get("dev_accuracy"), "mode": info.get("mode"),
            "pretrained": info.get("pretrained", (info.get("teacher") or {}).get("pretrained")),
            "paddle_version": paddle.__version__, "python": platform.python_version(),
            "source_dir": os.path.abspath(args.model_dir),
        }
        write_json(os.path.join(out, MANIFEST), manifest)

        predictor = Predictor(out, "paddle", batch_size=len(PROBE_TEXTS))
        reference = dygraph_logits(model, predictor.encoder, PROBE_TEXTS)
        exported = predictor.logits(PROBE_TEXTS)
        manifest["parity"] = {"paddle_inference_vs_dygraph": check_parity("Paddle Inference vs dygraph", reference,
                                                                          exported)}
        if args.onnx:
            from ernie_distill.onnx_export import paddle_to_onnx

            paddle_to_onnx(program_file(out), os.path.join(out, MODEL_PREFIX + ".pdiparams"),
                           os.path.join(out, ONNX_FILE), args.opset_version)
            onnx_logits = Predictor(out, "onnx", batch_size=len(PROBE_TEXTS)).logits(PROBE_TEXTS)
            manifest["parity"]["onnx_vs_paddle_inference"] = check_parity("ONNX Runtime vs Paddle Inference",
                                                                          exported, onnx_logits)
        manifest["files"] = {name: sha256_of(os.path.join(out, name)) for name in sorted(os.listdir(out))
                             if name != MANIFEST and os.path.isfile(os.path.join(out, name))}
        write_json(os.path.join(out, MANIFEST), manifest)

    save_dir_atomically(args.output_path, write)
    files = sorted(os.listdir(args.output_path))
    size_mb = sum(os.path.getsize(os.path.join(args.output_path, f)) for f in files) / 2**20
    logger.info("exported %s (%s) to %s: %s (%.1f MB)", kind, args.model_dir, args.output_path, ", ".join(files),
                size_mb)


if __name__ == "__main__":
    sys.exit(run_cli(main))
