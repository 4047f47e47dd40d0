"""Resumable training checkpoints: weights, optimizer (with its LR scheduler), RNG state and a JSON trainer state.

A checkpoint carries the fingerprint of the run that wrote it (settings, data digests, teacher); resuming with a
different fingerprint is refused, naming what differs, so a run never continues someone else's training.

Optimizer states are keyed by the parameters' structured names (`lstm.weight_ih_l0`), not by Paddle's generated
names (`lstm_0.w_0`), which change with the order models are built in, so a checkpoint loads into any new process.
"""
import os
import random

import numpy as np
import paddle

from ..atomic import read_json, recover_dir, save_dir_atomically, write_json
from ..errors import InputError

TRAINER_STATE = "trainer_state.json"


class CheckpointMismatch(InputError):
    """--resume found a checkpoint of a different run."""


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def _renamer(model, to_structured):
    pairs = [(p.name, n) for n, p in model.named_parameters()]
    pairs = sorted(pairs if to_structured else [(n, p) for p, n in pairs], key=lambda pair: -len(pair[0]))

    def rename(key):
        for old, new in pairs:
            if key == old or key.startswith(old + "_"):
                return new + key[len(old):]
        return key

    return rename


def save_checkpoint(ckpt_dir, model, optimizer, state):
    rename = _renamer(model, to_structured=True)

    def write(tmp_dir):
        paddle.save(model.state_dict(), os.path.join(tmp_dir, "model_state.pdparams"))
        paddle.save({rename(k): v for k, v in optimizer.state_dict().items()}, os.path.join(tmp_dir, "optimizer.pdopt"))
        paddle.save({"paddle": paddle.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
                    os.path.join(tmp_dir, "rng_state.pdstate"))
        write_json(os.path.join(tmp_dir, TRAINER_STATE), state)

    save_dir_atomically(ckpt_dir, write, last=(TRAINER_STATE,))


def differences(saved, wanted, prefix=""):
    """'key: checkpoint X, this run Y' for each leaf where two nested dicts differ."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key, "(absent)"), wanted.get(key, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: checkpoint {a!r}, this run {b!r}")
    return out


def load_checkpoint(ckpt_dir, model, optimizer, fingerprint):
    """Restore what save_checkpoint wrote and return the trainer state; None if there is no checkpoint.

    Raises CheckpointMismatch when the checkpoint's fingerprint differs from this run's.
    """
    recover_dir(ckpt_dir, last=(TRAINER_STATE,))  # what a kill during an atomic save left
    if not os.path.isfile(os.path.join(ckpt_dir, TRAINER_STATE)):
        return None
    state = read_json(os.path.join(ckpt_dir, TRAINER_STATE))
    changed = differences(state.get("fingerprint", {}), fingerprint)
    if changed:
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise CheckpointMismatch(
            f"--resume: {ckpt_dir} was written by a different run ({shown}). Run without --resume to start "
            "fresh in this output directory, or give another --output_dir")
    model.set_state_dict(paddle.load(os.path.join(ckpt_dir, "model_state.pdparams")))
    rename = _renamer(model, to_structured=False)
    optimizer_state = paddle.load(os.path.join(ckpt_dir, "optimizer.pdopt"))
    optimizer.set_state_dict({rename(k): v for k, v in optimizer_state.items()})
    rng = paddle.load(os.path.join(ckpt_dir, "rng_state.pdstate"), return_numpy=True)
    paddle.set_rng_state(rng["paddle"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    return state
