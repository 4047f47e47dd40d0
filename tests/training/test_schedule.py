"""The schedule that follows the data (Schedule.following_data) and early stopping in the loop, resumed too."""
import numpy as np
import paddle
import pytest

from ernie_distill.training.loop import STUDENT_LENGTH, Schedule, train


@pytest.mark.parametrize("steps_per_epoch, mode, epochs, eval_steps, total", [
    (300, "hard_labels", 6, 0, 1800),  # ChnSentiCorp's 9,600 texts: as before, each epoch evaluated
    (1733, "distill", 3, 0, 5199),  # its default transfer set: as before
    (450, "distill", 6, 0, 2700),  # 960 labels and 8,640 unlabeled texts: as before
    (94, "hard_labels", 20, 0, 1880),  # 3,000 texts: 20 epochs make the 1,800 steps
    (10, "hard_labels", 180, 90, 1800),  # 300 texts: 180 epochs, 20 evaluations rather than 180
])
def test_the_data_sets_the_epochs_and_the_evaluations(steps_per_epoch, mode, epochs, eval_steps, total):
    schedule = Schedule.following_data(steps_per_epoch, **STUDENT_LENGTH[mode])
    assert (schedule.num_epochs, schedule.eval_steps, schedule.total_steps) == (epochs, eval_steps, total)
    assert schedule.patience == 5


def test_given_epochs_are_obeyed_without_early_stopping_unless_asked():
    schedule = Schedule.following_data(10, num_epochs=6, **STUDENT_LENGTH["hard_labels"])
    assert (schedule.total_steps, schedule.eval_steps, schedule.patience) == (60, 0, 0)
    assert Schedule.following_data(10, num_epochs=6, patience=2, **STUDENT_LENGTH["hard_labels"]).patience == 2
    assert Schedule.following_data(10, patience=0, **STUDENT_LENGTH["hard_labels"]).patience == 0


class Run:
    """The real loop on a linear model: 2 steps an epoch, evaluated every step, dev accuracies given in turn."""

    def __init__(self, tmp_path, accuracies, interrupt_at=None):
        self.tmp_path, self.accuracies, self.interrupt_at = tmp_path, list(accuracies), interrupt_at
        self.steps_trained, self.saved = 0, []

    def __call__(self, resume=False, patience=3):
        paddle.seed(0)
        model = paddle.nn.Linear(4, 2)
        optimizer = paddle.optimizer.SGD(0.1, parameters=model.parameters())
        data = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")

        def compute_loss(net, batch):
            self.steps_trained += 1
            return net(paddle.to_tensor(batch)).mean()

        def evaluate(_):
            if len(self.saved) == self.interrupt_at:
                self.interrupt_at = None
                raise KeyboardInterrupt
            self.saved.append(None)
            return {"accuracy": self.accuracies.pop(0)}

        def save_best(directory, state):
            self.saved[-1] = state.global_step

        schedule = Schedule(10, 2, eval_steps=1, logging_steps=100, patience=patience)
        return train(model, optimizer, schedule, lambda epoch: [data[:2], data[2:]], compute_loss, evaluate,
                     save_best, str(self.tmp_path), {"run": 1}, "student", resume)


def test_training_stops_after_patience_evaluations_without_a_better_dev_accuracy_and_keeps_the_best(tmp_path):
    run = Run(tmp_path, [0.4, 0.7, 0.6, 0.7, 0.5, 0.9, 0.9])
    state = run()
    assert (state.global_step, state.best_step, state.best_accuracy, state.stopped_early) == (5, 2, 0.7, True)
    assert [step for step in run.saved if step] == [1, 2]  # the best model was written at steps 1 and 2 only
    assert run.steps_trained == 5


def test_an_early_stop_is_resumed_as_one(tmp_path):
    """Interrupted after the checkpoint of step 3, the resumed run stops where an uninterrupted one does; resuming a
    run that had stopped early trains nothing more."""
    run = Run(tmp_path, [0.4, 0.7, 0.6, 0.7, 0.5, 0.9], interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        run()
    state = run(resume=True)
    assert (state.global_step, state.best_step, state.stopped_early) == (5, 2, True)
    assert run.steps_trained == 4 + 2  # 4 before the interrupt (step 4's evaluation raised), steps 4 and 5 again
    trained = run.steps_trained
    state = run(resume=True)
    assert (run.steps_trained, state.global_step, state.stopped_early) == (trained, 5, True)
    assert state.eval_history == [[1, 0.4], [2, 0.7], [3, 0.6], [4, 0.7], [5, 0.5]]


def test_patience_zero_trains_every_step(tmp_path):
    state = Run(tmp_path, [0.5] * 20)(patience=0)
    assert (state.global_step, state.stopped_early) == (20, False)
