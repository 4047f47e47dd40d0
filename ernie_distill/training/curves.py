"""Training curves: the loss, dev accuracy and learning rate of a run against its steps, drawn as OUTPUT_DIR/curves.png
(redrawn at each evaluation, so a long run can be watched) and written as VisualDL logs where VisualDL is installed
(PaddleNLP brings it), under the tags PaddleNLP's Trainer uses, so `visualdl --logdir OUTPUT_DIR/runs` shows them live.

The PNG is drawn from the run's TrainState, whose histories the checkpoint carries: a resumed run's picture holds its
whole history. A VisualDL log holds what one process wrote: a resumed run writes a new one, from its checkpoint's step.
"""
import io
import os
import socket
from datetime import datetime

from ..atomic import write_file_atomically
from ..log import logger

CURVES = "curves.png"


def default_logging_dir(output_dir):
    """PaddleNLP's Trainer's default --logging_dir: OUTPUT_DIR/runs/MonDD_HH-MM-SS_HOSTNAME, one folder a run."""
    return os.path.join(output_dir, "runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname())


def draw_curves(loss_history, eval_history, lr_history, path, title=""):
    """A PNG at `path` (written atomically: a viewer never sees half a picture) of three panels sharing the step axis:
    training loss, dev accuracy (the best marked) and learning rate; each history is a list of [step, value]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg, without pyplot: no display, no global figures
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 6.3), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss, accuracy, lr = figure.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    panels = ((loss, loss_history, "training loss", "tab:blue", ""),
              (accuracy, [[step, value * 100] for step, value in eval_history], "dev accuracy, %", "tab:green", "o"),
              (lr, lr_history, "learning rate", "tab:gray", ""))
    for axes, history, label, color, marker in panels:
        if history:
            steps, values = zip(*history)
            marker = marker or ("." if len(history) <= 30 else "")  # (a short run's few points stay visible)
            axes.plot(steps, values, color=color, marker=marker, markersize=4 if marker == "o" else 6, linewidth=1.5)
        else:
            axes.text(0.5, 0.5, "not logged yet", transform=axes.transAxes, ha="center", va="center", color="gray")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    if eval_history:
        step, best = max(eval_history, key=lambda point: point[1])  # (the first of equals, as the loop keeps it)
        accuracy.scatter([step], [best * 100], s=90, facecolors="none", edgecolors="tab:red", zorder=3)
        late = step > (eval_history[0][0] + eval_history[-1][0]) / 2  # (the label goes left of a late best)
        accuracy.annotate(f"best {best:.2%} at step {step}", (step, best * 100), xytext=(-8 if late else 8, -14),
                          textcoords="offset points", fontsize=8, color="tab:red", ha="right" if late else "left")
    lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    lr.set_xlabel("step")
    lr.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        figure.suptitle(title, fontsize=10)
    image = io.BytesIO()
    figure.savefig(image, format="png")
    write_file_atomically(path, lambda f: f.write(image.getvalue()), "wb")


class TrainingCurves:
    """The training loop's hook: logged(step, loss, lr) at each logging step, evaluated(state) after each evaluation
    (it redraws the PNG), close() at the end. Nothing is written before the first call."""

    def __init__(self, output_dir, logging_dir=None, title=""):
        self.path, self.title = os.path.join(output_dir, CURVES), title
        self.logging_dir = logging_dir or default_logging_dir(output_dir)
        self.writer = None  # a VisualDL LogWriter, opened on first use; False where VisualDL is not installed

    def _visualdl(self):
        if self.writer is None:
            try:
                from visualdl import LogWriter
            except ImportError:
                logger.info("VisualDL is not installed: no VisualDL logs (pip install visualdl); curves in %s",
                            self.path)
                self.writer = False
            else:
                self.writer = LogWriter(logdir=self.logging_dir)
                logger.info("curves: %s, redrawn at each evaluation; live: visualdl --logdir %s", self.path,
                            self.logging_dir)
        return self.writer

    def logged(self, step, loss, lr):
        if self._visualdl():
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/learning_rate", lr, step)

    def evaluated(self, state):
        accuracy = state.eval_history[-1][1]
        if self._visualdl():
            self.writer.add_scalar("eval/accuracy", accuracy, state.global_step)
            self.writer.flush()
        draw_curves(state.loss_history, state.eval_history, state.lr_history, self.path, self.title)

    def close(self):
        if self.writer:
            self.writer.close()
