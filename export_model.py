"""Export a trained student (distill_lstm.py's best_model) or teacher (run_glue.py's best_model, or any PaddleNLP
save_pretrained directory) for deployment.

    python export_model.py --model_dir tmp/student/best_model --output_path tmp/export/student [--onnx]

OUTPUT_PATH becomes a self-contained directory: inference.json (Paddle 3 PIR program; inference.pdmodel under
Paddle <= 2.6) + inference.pdiparams, the vocabulary or tokenizer files, [inference.onnx], for a student
inference.npz (the weights of its compiled CPU kernel, --backend numba), and manifest.json (model kind, labels, input
lengths, SHA-256 of each file). After export the exported model is checked against the dygraph model on a
mixed-length batch; the export fails if they disagree. OUTPUT_PATH must be new, empty or an earlier export (replaced
atomically), and apart from MODEL_DIR: anything else is refused before anything is written. A plain save_pretrained
directory takes its labels from --task_name/--data_dir when given, else from its config (ids named by id2label).
"""
import sys

from ernie_distill.cli import ArgumentParser, bounded, existing_dir, run_cli, settings_from
from ernie_distill.data.reading import load_task
from ernie_distill.deploy.export import ExportSettings, export


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", type=existing_dir, required=True,
                        help="a best_model directory (student or teacher)")
    parser.add_argument("--output_path", required=True,
                        help="the deployment directory to write; replaces only an earlier export")
    parser.add_argument("--max_seq_length", type=bounded(int, 3, 4096),
                        help="default: the length the model was trained with")
    parser.add_argument("--onnx", action="store_true", help="also write inference.onnx (for ONNX Runtime)")
    parser.add_argument("--quantize", choices=["int8"],
                        help="int8: also write inference.int8.onnx, dynamically quantized (implies --onnx)")
    parser.add_argument("--opset_version", type=bounded(int, 7, 21), default=11,
                        help="paddle2onnx takes 7-21 (above, it aborts the process) and raises it as the graph needs")
    labels = parser.add_argument_group("labels of a plain save_pretrained teacher (default: its config's id2label)")
    labels.add_argument("--task_name", help="ChnSentiCorp, or your own task (with --data_dir holding labels.txt)")
    labels.add_argument("--data_dir")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    task = load_task(args.task_name, args.data_dir) if args.task_name else None
    export(settings_from(ExportSettings, args, task=task))


if __name__ == "__main__":
    sys.exit(run_cli(main))
