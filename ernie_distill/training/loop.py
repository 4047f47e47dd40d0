"""The one training loop behind run_glue.py (teacher) and distill_lstm.py (student).

A script gives what differs: the model and optimizer, the batches of an epoch, the loss as a plain function of
(model, batch), the dev evaluation and how to write its best model. The loop does what is the same: resume (only
from a checkpoint of the same run), a progress line (step, loss, speed, ETA), evaluation every `eval_steps` steps (or
at each epoch end) and at the last step, the best model written atomically, checkpoints, the curves (curves.py) and the
metrics file every script writes alike.
"""
import contextlib
import glob
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

from ..atomic import read_json, save_dir_atomically, write_json
from ..deploy.manifest import sha256_of
from ..errors import InputError
from ..log import Progress, logger
from .checkpoint import load_checkpoint, save_checkpoint
from .curves import CURVES
from .scores import guessing_check

BEST_MODEL, CHECKPOINT, METRICS = "best_model", "checkpoint", "metrics.json"
# Flags that change where or how verbosely a run works, never what it learns: left out of the run's fingerprint.
NOT_IN_FINGERPRINT = {"output_dir", "resume", "device", "logging_steps", "download_timeout", "cache_dir",
                      "teacher_batch_size", "data_dir", "skip_invalid", "logging_dir"}
# Schedule.following_data: evaluations in a run of more epochs than that, and those in a row without a better dev
# accuracy that stop it
EVALUATIONS, PATIENCE = 20, 5
# The student's schedule without --num_epochs (docs/results.md): ChnSentiCorp's 9,600 texts make 300 steps an epoch,
# and 6 epochs suit them on hard labels; its default transfer set (5,200 steps) 3 when distilling, while 960 labels and
# 8,640 unlabeled texts (450 steps an epoch) gained 2.6 points from 6. A smaller data set gets more epochs.
STUDENT_LENGTH = {"hard_labels": dict(min_epochs=6, min_steps=1800), "distill": dict(min_epochs=3, min_steps=2400)}
# best_model's config files, what its readers check first: where best_model is a mount point (its contents replaced
# entry by entry, atomic.save_dir_atomically), they are put in place last
BEST_MODEL_CONFIGS = ("config.json", "student_config.json")
# Schedule.warn_if_short: a run of fewer optimizer steps warns, saying what to try
SHORT_RUN_STEPS = 200
SHORT_RUN_HINTS = {"teacher": "try --num_train_epochs 20 (or --max_steps 300) and watch the dev accuracy; the "
                              "course's settings suit ChnSentiCorp's 9,600 texts"}
# write_metrics: what to try when a finished run is barely better than guessing (scores.guessing_check)
GUESSING_HINTS = {
    "student": "training longer (--num_epochs 30, or leave out --num_epochs: the data then sets the length), more "
               "labelled texts, or distilling from a teacher with your unlabeled texts (--teacher_dir, "
               "--unlabeled_file); check that the labels in train.tsv match the texts",
    "teacher": "training longer (--num_train_epochs, or --max_steps 300 on a small data set), another --learning_rate "
               "(2e-5 to 1e-4), or more labelled texts; check that the labels in train.tsv match the texts"}


@dataclass
class Schedule:
    """How long to train and how often to evaluate; max_steps > 0 overrides the epochs (as in PaddleNLP); patience > 0
    stops early once that many evaluations in a row found no better dev accuracy (the best model is kept)."""

    num_epochs: int
    steps_per_epoch: int
    max_steps: int = 0
    eval_steps: int = 0  # evaluate every eval_steps steps, or at each epoch end when 0; and always at the last step
    logging_steps: int = 50
    patience: int = 0

    @classmethod
    def following_data(cls, steps_per_epoch, *, num_epochs=None, min_epochs, min_steps, patience=None, eval_steps=0,
                       logging_steps=50):
        """The schedule for a data set of any size. Given num_epochs, exactly those (early stopping only with a
        `patience`). Else at least min_epochs and min_steps optimizer steps (a small data set gets the steps it
        needs: 300 texts make 10 steps an epoch), an evaluation each epoch or, with more epochs than EVALUATIONS,
        EVALUATIONS in the run, and early stopping after `patience` (default PATIENCE) evaluations without a better
        dev accuracy. A large data set, whose min_epochs make min_steps, trains as it did before early stopping
        existed: min_epochs (6) leave no room for PATIENCE (5) evaluations after a best one before the end."""
        if num_epochs:
            return cls(num_epochs, steps_per_epoch, eval_steps=eval_steps, logging_steps=logging_steps,
                       patience=patience or 0)
        epochs = max(min_epochs, math.ceil(min_steps / steps_per_epoch))
        if not eval_steps and epochs > EVALUATIONS:  # evaluating each epoch would spend the patience in a few steps
            eval_steps = math.ceil(epochs * steps_per_epoch / EVALUATIONS)
        return cls(epochs, steps_per_epoch, eval_steps=eval_steps, logging_steps=logging_steps,
                   patience=PATIENCE if patience is None else patience)

    @property
    def total_steps(self):
        return self.max_steps if self.max_steps > 0 else self.num_epochs * self.steps_per_epoch

    @property
    def epochs(self):
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def patience_spent(self, state):
        """True once `patience` evaluations in a row found no better dev accuracy than state's best."""
        return self.patience > 0 and sum(step > state.best_step for step, _ in state.eval_history) >= self.patience

    def warn_if_short(self, examples, batch_size, kind):
        """Warn of a run of fewer than SHORT_RUN_STEPS optimizer steps: on a small data set the defaults of a large
        one stop before the model learns. Says what a `kind` ("teacher") run could try."""
        if self.total_steps < SHORT_RUN_STEPS:
            logger.warning("only %d optimizer steps (%d training texts, batch %d, %d epoch(s)): a model on so little "
                           "data usually needs more; %s", self.total_steps, examples, batch_size, self.epochs,
                           SHORT_RUN_HINTS[kind])


@dataclass
class MixedPrecision:
    """--use_amp as PaddleNLP has it: the forward pass in float16 where Paddle's lists allow (paddle.amp level O1), the
    loss scaled up before backward and the scale adapted to overflows (GradScaler). Paddle runs it on a GPU only: on a
    CPU auto_cast has no effect, and a model cast to bfloat16 fails for want of CPU kernels (Paddle 2.6.2 and 3.3.1).
    The scale is not checkpointed: a resumed run starts again from init_loss_scaling and adapts within a few steps."""

    init_loss_scaling: float = 2.0**15

    def autocast(self):
        import paddle

        return paddle.amp.auto_cast(enable=True, dtype="float16", level="O1")

    def scaler(self):
        import paddle

        return paddle.amp.GradScaler(init_loss_scaling=self.init_loss_scaling)


@dataclass
class TrainState:
    """What a checkpoint carries besides weights: progress, the best result so far, history, the run's fingerprint."""

    global_step: int = 0
    best_accuracy: float = -1.0
    best_step: int = 0
    best_epoch: int = 0
    wall_time_s: float = 0.0  # summed over resumed runs
    loss_history: list = field(default_factory=list)  # [step, loss]
    eval_history: list = field(default_factory=list)  # [step, dev accuracy]
    lr_history: list = field(default_factory=list)  # [step, learning rate]
    best_scores: dict = field(default_factory=dict)  # the best evaluation's classification_scores
    fingerprint: dict = field(default_factory=dict)
    stopped_early: bool = False  # patience spent before the last step


def data_digest(examples):
    """SHA-256 of a split's texts and labels: the same data gives the same digest wherever it was read from."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.label}\t{example.text}\n".encode("utf-8"))
    return digest.hexdigest()


def code_digest():
    """SHA-256 of the project's code: this package, the scripts beside it and scripts/ (in a checkout). run_all.sh and
    the benchmarks redo a finished step unless its command and this digest are both unchanged: a changed default
    leaves the command as it was."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(package)
    paths = sorted(glob.glob(os.path.join(package, "**", "*.py"), recursive=True)
                   + glob.glob(os.path.join(root, "*.py")) + glob.glob(os.path.join(root, "scripts", "*.py")))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()


def run_fingerprint(settings, splits, **extra):
    """What makes a run: its settings (a dict of every flag, less NOT_IN_FINGERPRINT), each split's data digest, and
    `extra` (a teacher)."""
    kept = {k: v for k, v in sorted(settings.items()) if k not in NOT_IN_FINGERPRINT}
    return json.loads(json.dumps({"settings": kept, "data": {s: data_digest(e) for s, e in splits.items()},
                                  **extra}, sort_keys=True))


def prepare_output_dir(output_dir, resume, kind):
    """Create output_dir, once everything else was checked. A fresh run removes the metrics and curves of an earlier run
    there, so they cannot pass for its own; an output dir holding another kind of model (a teacher, for a student) is
    refused."""
    os.makedirs(output_dir, exist_ok=True)
    metrics = os.path.join(output_dir, METRICS)
    if os.path.isfile(metrics):
        try:
            earlier = read_json(metrics).get("kind")
        except (OSError, ValueError, AttributeError):
            earlier = None
        if earlier and earlier != kind:
            raise InputError(f"--output_dir {output_dir} holds a {earlier} run ({METRICS}): a {kind} would replace its "
                             "best_model and checkpoint; give another --output_dir")
        if not resume:
            os.remove(metrics)
    if not resume and os.path.isfile(os.path.join(output_dir, CURVES)):
        os.remove(os.path.join(output_dir, CURVES))


def train(model, optimizer, schedule, epoch_batches, compute_loss, evaluate, save_best, output_dir, fingerprint,
          kind, resume=False, lr_scheduler=None, is_main_process=True, mixed_precision=None, curves=None):
    """Train to schedule.total_steps and return the TrainState.

    epoch_batches(epoch) -> the epoch's batches, in a fixed order for a given epoch (a resumed run skips those done);
    compute_loss(model, batch) -> scalar loss; evaluate(model) -> dev classification_scores (accuracy decides);
    save_best(directory, state) writes the model into directory (made atomic here); kind: "teacher" or "student";
    mixed_precision: a MixedPrecision, or None for float32; curves: a TrainingCurves (curves.py), told of each logged
    step and evaluation on the main process. Data-parallel ranks other than the main process (is_main_process False)
    only train: the main one evaluates, checkpoints, writes the best model and draws the curves.
    """
    if is_main_process:
        prepare_output_dir(output_dir, resume, kind)
    ckpt_dir, best_dir = os.path.join(output_dir, CHECKPOINT), os.path.join(output_dir, BEST_MODEL)
    state = TrainState(fingerprint=fingerprint)
    checkpointed = None  # the step of the checkpoint in ckpt_dir, this run's own or the one it resumed
    if resume:
        saved = load_checkpoint(ckpt_dir, model, optimizer, fingerprint)
        if saved is None:
            logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)
        else:
            state = TrainState(**saved)
            checkpointed = state.global_step
            logger.info("resumed from %s at step %d (best dev accuracy %.4f at step %d)", ckpt_dir,
                        state.global_step, state.best_accuracy, state.best_step)
    total, per_epoch = schedule.total_steps, schedule.steps_per_epoch
    progress, started, earlier_wall_time = Progress(total, state.global_step), time.time(), state.wall_time_s
    logger.info("training %d steps (%d per epoch, %d epoch(s))%s", total, per_epoch, schedule.epochs,
                f", stopping early after {schedule.patience} evaluations without a better dev accuracy"
                if schedule.patience else "")

    def evaluate_and_checkpoint(epoch):
        nonlocal checkpointed
        if not is_main_process:  # the main one checkpoints (the next step's gradient all-reduce waits for it)
            checkpointed = state.global_step
            return
        scores = evaluate(model)
        accuracy = scores["accuracy"]
        model.train()
        state.eval_history.append([state.global_step, round(accuracy, 6)])
        improved = accuracy > state.best_accuracy
        if improved:
            state.best_accuracy, state.best_step, state.best_epoch = accuracy, state.global_step, epoch
            state.best_scores = scores
        logger.info("step %d (epoch %d): dev accuracy %.4f (best %.4f at step %d)", state.global_step, epoch, accuracy,
                    state.best_accuracy, state.best_step)
        state.wall_time_s = earlier_wall_time + time.time() - started
        if improved:
            save_dir_atomically(best_dir, lambda directory: save_best(directory, state), last=BEST_MODEL_CONFIGS)
        save_checkpoint(ckpt_dir, model, optimizer, asdict(state))
        checkpointed = state.global_step
        if curves is not None:
            curves.evaluated(state)

    scaler = mixed_precision.scaler() if mixed_precision else None
    model.train()
    stopped = schedule.patience_spent(state)  # a resumed run that had stopped early stays stopped
    try:
        for epoch in range(state.global_step // per_epoch + 1, 0 if stopped else schedule.epochs + 1):
            for index, batch in enumerate(epoch_batches(epoch)):
                step = (epoch - 1) * per_epoch + index + 1
                if step <= state.global_step:
                    continue  # trained before the run was interrupted
                with mixed_precision.autocast() if mixed_precision else contextlib.nullcontext():
                    loss = compute_loss(model, batch)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:
                    scaled = scaler.scale(loss)
                    scaled.backward()
                    scaler.minimize(optimizer, scaled)  # unscales, skips the step on inf/nan, adapts the scale
                optimizer.clear_grad()
                if lr_scheduler is not None:
                    lr_scheduler.step()
                state.global_step = step
                if step % schedule.logging_steps == 0 or step == total:
                    lr = optimizer.get_lr()
                    state.loss_history.append([step, round(float(loss), 5)])
                    state.lr_history.append([step, float(f"{lr:.6g}")])
                    logger.info("%s, lr %.2e", progress.line(step, epoch, float(loss)), lr)
                    if curves is not None and is_main_process:
                        curves.logged(step, float(loss), lr)
                due = step % schedule.eval_steps == 0 if schedule.eval_steps else index + 1 == per_epoch
                if due or step == total:
                    evaluate_and_checkpoint(epoch)
                    stopped = schedule.patience_spent(state)
                if step >= total or stopped:
                    break
            if stopped:
                break
    except KeyboardInterrupt:  # run_cli prints this as its one line
        if checkpointed is None:
            raise KeyboardInterrupt(f"at step {state.global_step}, before the first checkpoint: the same command "
                                    "starts again") from None
        raise KeyboardInterrupt(f"at step {state.global_step}; the same command with --resume continues from step "
                                f"{checkpointed}, the last checkpoint") from None
    finally:
        if curves is not None and is_main_process:
            curves.close()
    state.stopped_early = stopped and state.global_step < total
    if state.stopped_early:
        logger.info("stopped early at step %d of %d: no better dev accuracy in %d evaluations; the best model is from "
                    "step %d", state.global_step, total, schedule.patience, state.best_step)
    return state


def write_metrics(output_dir, state, *, kind, mode, task, num_parameters, settings, teacher=None, **extra):
    """OUTPUT_DIR/metrics.json, one schema for the teacher and every student; report.py and the benchmark read it.
    `settings`: every flag of the run (a dict), kept under "args"."""
    guessing = guessing_check(state.best_scores, GUESSING_HINTS[kind] + (
        "; it started from random weights: a pretrained encoder (--model_name_or_path ernie-gram-zh) is what makes a "
        "teacher" if extra.get("pretrained") is False else "")) if state.best_scores else None
    logger.info("best dev accuracy %.4f at step %d (epoch %d)%s; the %s is in %s", state.best_accuracy, state.best_step,
                state.best_epoch, ", stopped early" if state.stopped_early else "", kind,
                os.path.join(output_dir, BEST_MODEL))
    if guessing and guessing["warning"]:
        logger.warning("this %s is %s", kind, guessing["warning"])
    metrics = {
        "kind": kind, "mode": mode, "task_name": task.name, "labels": task.labels, "label_names": task.label_names,
        "dev_accuracy": state.best_accuracy, "dev_macro_f1": state.best_scores.get("macro_f1"),
        "dev_per_class": state.best_scores.get("per_class"), "dev_confusion": state.best_scores.get("confusion"),
        "best_step": state.best_step,
        "best_epoch": state.best_epoch,
        "steps": state.global_step, "stopped_early": state.stopped_early, "guessing": guessing,
        "num_parameters": num_parameters,
        "model_size_mb": round(num_parameters * 4 / 2**20, 2), "wall_time_s": round(state.wall_time_s, 1),
        "loss_history": state.loss_history, "eval_history": state.eval_history, "lr_history": state.lr_history,
        "teacher": teacher,
        "args": settings, **extra,
    }
    write_json(os.path.join(output_dir, METRICS), metrics)
    return metrics
