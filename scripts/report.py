"""Write OUTPUT_DIR/report.md from what run_all.sh's steps wrote: every figure is read from a metrics file.

    python scripts/report.py --output_dir tmp/ChnSentiCorp

Reads the metrics.json every training script writes (teacher, student-hard/, student-distill/, one schema),
best_model/teacher_info.json, export/*/manifest.json, benchmark/benchmark.json and logs/predict.log. Shows each
model's training curves (its curves.png) and draws, in OUTPUT_DIR/report/, the teacher-vs-students chart of size,
speed and accuracy (models.png) and, for more than two classes, their confusion matrices on dev (confusion.png).
"""
import json
import os
import re
import sys
import time

from ernie_distill.atomic import read_json
from ernie_distill.cli import ArgumentParser, run_cli
from ernie_distill.errors import InputError

MODELS = [  # (name in the benchmark, label, metrics file, note when the teacher is untrained)
    ("teacher", "Teacher: {model_type} (`{init_from}`)", "metrics.json", " (untrained)"),
    ("student-hard", "Student: Bi-LSTM on hard labels", "student-hard/metrics.json", ""),
    ("student-distill", "Student: Bi-LSTM distilled from the teacher", "student-distill/metrics.json",
     " (untrained teacher)"),
]


def load(path):
    return read_json(path) if os.path.isfile(path) else None


def best_backend(rows, name):
    """The benchmark row of `name` with the highest batch-32 throughput, or None."""
    candidates = [row for row in rows if row["name"] == name]
    return max(candidates, key=lambda r: r["batch32_sentences_per_s"]) if candidates else None


def fmt(value, pattern):
    return "n/a" if value is None else pattern.format(value)


def trained_models(out):
    """(name, label, metrics, untrained note) of each model whose metrics.json is there, in MODELS' order."""
    found = [(name, label, load(os.path.join(out, metrics_file)), note) for name, label, metrics_file, note in MODELS]
    return [model for model in found if model[2] is not None]


def models_table(out, teacher_info, benchmark):
    """One row per model: dev accuracy and macro-F1 from its metrics.json, size and speed from the benchmark."""
    untrained = teacher_info.get("pretrained") is False
    lines = ["| model | dev accuracy | dev macro-F1 | parameters | size on disk | backend | batch-1 latency p50 / p99 "
             "| sentences/s (batch 32) |", "|---|---|---|---|---|---|---|---|"]
    for name, label, metrics, untrained_note in trained_models(out):
        manifest = load(os.path.join(out, "export", name, "manifest.json")) or {}
        speed = best_backend(benchmark["rows"], name)
        label = label.format(model_type=teacher_info.get("model_type", "?"),
                             init_from=teacher_info.get("init_from", "?"))
        accuracy = fmt(metrics.get("dev_accuracy"), "{:.2%}") + (untrained_note if untrained else "")
        parameters = manifest.get("num_parameters") or metrics.get("num_parameters")
        latency = f"{speed['batch1_ms']['p50']} / {speed['batch1_ms']['p99']} ms" if speed else "n/a"
        lines.append(f"| {label} | {accuracy} | {fmt(metrics.get('dev_macro_f1'), '{:.4f}')} "
                     f"| {fmt(parameters and parameters / 1e6, '{:.1f}M')} "
                     f"| {fmt(speed and speed['size_mb'], '{:.1f} MB')} | {speed['backend'] if speed else 'n/a'} "
                     f"| {latency} | {fmt(speed and speed['batch32_sentences_per_s'], '{:.0f}')} |")
    return lines


def figure(columns, width, height):
    """A matplotlib Figure of `columns` panels, drawn by Agg (no display, no pyplot state), and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, axes


def models_chart(out, teacher_info, benchmark, path):
    """Teacher vs students side by side: size on disk, sentences/s at batch 32 (each on its fastest backend; both
    from the benchmark) and dev accuracy. Returns the lines that show it, or none without benchmark figures."""
    untrained = teacher_info.get("pretrained") is False
    models = [(name, metrics, best_backend(benchmark["rows"], name)) for name, _, metrics, _ in trained_models(out)]
    models = [(name, metrics, speed) for name, metrics, speed in models if speed]
    if not models:
        return []
    fig, axes = figure(3, 10, 3.6)
    names = [name for name, _, _ in models]
    colors = ["tab:red" if name == "teacher" else "tab:blue" for name in names]
    panels = [("size on disk, MB (log)", [speed["size_mb"] for _, _, speed in models], "{:.1f}", True),
              ("sentences/s, batch 32 (log)", [speed["batch32_sentences_per_s"] for _, _, speed in models], "{:.0f}",
               True),
              ("dev accuracy, %", [metrics["dev_accuracy"] * 100 for _, metrics, _ in models], "{:.1f}", False)]
    for ax, (title, values, pattern, log) in zip(axes, panels):
        bars = ax.bar(range(len(names)), values, color=colors)
        ax.bar_label(bars, [pattern.format(value) for value in values], fontsize=8)
        ax.set_xticks(range(len(names)), names, fontsize=8, rotation=20)
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        ax.margins(y=0.15)
    if untrained:
        axes[2].set_title("dev accuracy, % (teacher untrained)", fontsize=10)
    fig.savefig(path)
    return ["", "## Teacher and students: size, speed, accuracy", "",
            f"![size, speed and accuracy]({os.path.relpath(path, out)})"]


def curves_lines(out):
    """Each model's training curves: the curves.png its training run drew beside it."""
    lines = []
    for name, _, metrics_file, _ in MODELS:
        curves = os.path.join(os.path.dirname(metrics_file), "curves.png")
        if os.path.isfile(os.path.join(out, metrics_file)) and os.path.isfile(os.path.join(out, curves)):
            lines += [f"![{name}: training curves]({curves})"]
    return ["", "## Training curves", "", "Training loss, dev accuracy and learning rate against steps.", "",
            *lines] if lines else []


CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS"]


def class_ticks(classes):
    """(tick labels, font family, key lines) for the class names: the names themselves where matplotlib's default font
    draws them or an installed font has Chinese glyphs, else numbers, with a key under the chart (in Markdown)."""
    from matplotlib import font_manager

    if all(ord(char) < 0x2E80 for name in classes for char in name):  # (below the CJK blocks: DejaVu has them)
        return classes, None, []
    for family in CJK_FONTS:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            return classes, family, []
        except ValueError:
            continue
    numbers = [str(i) for i in range(1, len(classes) + 1)]
    return numbers, None, ["", "Classes: " + ", ".join(f"{n} = {name}" for n, name in zip(numbers, classes)) +
                           " (matplotlib found no font with Chinese characters for the chart: install one, e.g. "
                           "fonts-noto-cjk, and delete matplotlib's font cache, the fontlist-*.json in "
                           "matplotlib.get_cachedir())."]


def confusion_chart(out, path):
    """For more than two classes, each model's confusion matrix on dev (its best evaluation), counts in the cells,
    rows the gold class; returns the lines that show it."""
    models = [(name, metrics) for name, _, metrics, _ in trained_models(out) if metrics.get("dev_confusion")]
    if not models or len(models[0][1]["label_names"]) <= 2:
        return []
    classes, family, key = class_ticks(models[0][1]["label_names"])
    size = 1.2 + 0.45 * len(classes)
    fig, axes = figure(len(models), size * len(models) + 1, size + 0.8)
    for ax, (name, metrics) in zip(axes, models):
        counts = metrics["dev_confusion"]
        ax.imshow(counts, cmap="Blues")
        top = max(max(row) for row in counts) or 1
        for i, row in enumerate(counts):
            for j, count in enumerate(row):
                ax.text(j, i, count, ha="center", va="center", fontsize=8,
                        color="white" if count > top / 2 else "black")
        ax.set_xticks(range(len(classes)), classes, fontsize=8, rotation=45, ha="right", family=family)
        ax.set_yticks(range(len(classes)), classes, fontsize=8, family=family)
        ax.set_xlabel("predicted", fontsize=9)
        ax.set_ylabel("gold", fontsize=9)
        ax.set_title(f"{name} ({metrics['dev_accuracy']:.1%})", fontsize=10)
    fig.savefig(path)
    return ["", "## Confusion matrices on dev", "", f"![confusion matrices]({os.path.relpath(path, out)})", *key]


def per_class_table(out):
    """Per-class F1 on dev of every model, for a task of more than two classes (accuracy hides a rare class)."""
    scores = {name: (load(os.path.join(out, metrics_file)) or {}).get("dev_per_class")
              for name, _, metrics_file, _ in MODELS}
    scores = {name: by_class for name, by_class in scores.items() if by_class}
    if not scores or len(next(iter(scores.values()))) <= 2:
        return []
    classes = list(next(iter(scores.values())))
    lines = ["", "## Per-class F1 on dev", "", "| class | support | " + " | ".join(scores) + " |",
             "|---|---|" + "---|" * len(scores)]
    for label in classes:
        support = next(iter(scores.values()))[label]["support"]
        lines.append(f"| {label} | {support} | " + " | ".join(f"{s[label]['f1']:.3f}" for s in scores.values()) + " |")
    return lines


def settings_lines(out, teacher_metrics, args):
    lines = ["", "## Settings", ""]
    teacher_args = teacher_metrics.get("args", {})
    if teacher_args:
        lines.append(f"- Teacher: `{teacher_args['model_type']}` from `{teacher_args['model_name_or_path']}`, task "
                     f"{teacher_metrics['task_name']}, max length {teacher_args['max_seq_length']}, batch "
                     f"{teacher_args['batch_size']}, learning rate {teacher_args['learning_rate']}, "
                     f"{teacher_args['num_train_epochs']} epoch(s), best at step {teacher_metrics['best_step']} of "
                     f"{teacher_metrics['steps']}, {teacher_metrics['wall_time_s']} s.")
    for name, _, metrics_file, _ in MODELS[1:]:
        metrics = load(os.path.join(out, metrics_file))
        if metrics:
            a = metrics["args"]
            distill = (f", transfer set {metrics['train_examples']} texts ({metrics.get('unlabeled_texts', 0)} of them "
                       f"unlabeled; n_iter {a['n_iter']}, p_mask {a['p_mask']}, p_pos {a['p_pos']}, p_ng {a['p_ng']}), "
                       f"loss {a['distill_loss']} alpha {a['alpha']}" if metrics["mode"] == "distill" else "")
            lines.append(f"- {name}: {a['tokens']} (max {a['max_seq_length']}) into a Bi-LSTM {a['hidden_size']}, "
                         f"bag of {metrics['bag_size']} n-grams/words, vocabulary {metrics['vocab_size']}, "
                         f"{a['num_epochs']} epoch(s) (best {metrics['best_epoch']}), batch {a['batch_size']}, "
                         f"lr {a['learning_rate']}{distill}, {metrics['wall_time_s']} s.")
    lines.append(f"- Device for training: {args.device or 'n/a'}; data: `{args.data_dir or 'n/a'}`.")
    return lines


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--device", default="", help="the training device, for the settings section")
    parser.add_argument("--data_dir", default="", help="the data used, for the settings section")
    args = parser.parse_args()
    out = args.output_dir
    if not os.path.isdir(out):
        raise InputError(f"--output_dir {out} does not exist: give run_all.sh's OUTPUT_DIR")
    teacher_info = load(os.path.join(out, "best_model", "teacher_info.json")) or {}
    benchmark = load(os.path.join(out, "benchmark", "benchmark.json")) or {"rows": [], "serving": []}

    lines = ["# ernie-gram-distill report", "", f"Written {time.strftime('%Y-%m-%d %H:%M')} from `{out}`.", ""]
    if teacher_info.get("pretrained") is False:
        lines += ["> **The teacher was fine-tuned from RANDOM weights (quick or offline mode), not from pretrained "
                  "ERNIE-Gram.** Its accuracy, and the distilled student's, say nothing about the real method; this "
                  "run checks that the chain works. Speeds and sizes are real for the shapes used.", ""]
    figures = os.path.join(out, "report")
    os.makedirs(figures, exist_ok=True)
    lines += models_table(out, teacher_info, benchmark) + per_class_table(out)
    lines += models_chart(out, teacher_info, benchmark, os.path.join(figures, "models.png"))
    lines += confusion_chart(out, os.path.join(figures, "confusion.png")) + curves_lines(out)
    if benchmark["rows"]:
        settings = benchmark["settings"]
        lines += ["", f"Speeds: CPU, {settings['cpu_threads']} threads, on "
                  f"`{os.path.relpath(settings['input_file'])}`, tokenization included, each model on its fastest "
                  "backend. All backends:", ""]
        with open(os.path.join(out, "benchmark", "benchmark.md"), encoding="utf-8") as f:
            lines += [f.read().rstrip(), "", "![benchmark](benchmark/benchmark.png)"]
    predictions = os.path.join(out, "logs", "predict.log")
    if os.path.isfile(predictions):
        with open(predictions, encoding="utf-8") as f:
            log = f.read().splitlines()
        samples = [json.loads(line) for line in log if line.startswith("{")]
        backend = next((m.group(1) for m in map(re.compile(r"backend (\S+)$").search, log) if m), "backend not logged")
        lines += ["", f"## Sample predictions (distilled student, {backend})", "", "| text | label | score |",
                  "|---|---|---|"] + [f"| {s['text']} | {s['label']} | {s['score']:.4f} |" for s in samples]
    lines += settings_lines(out, load(os.path.join(out, "metrics.json")) or {}, args)
    path = os.path.join(out, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
