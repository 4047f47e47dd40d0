"""Batches of similar-length rows: less padding for the LSTM and the transformer alike.

Training shuffles, then sorts by length inside windows of `window` batches and shuffles the batches; evaluation,
teacher logits and serving sort everything by length. Both give index lists; callers gather and pad.
"""
import numpy as np


def length_sorted_batches(lengths, batch_size, rng=None, window=50):
    """Index batches of similar length: shuffled with `rng` (training), else in ascending length order."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * window):
        chunk = sorted(order[start : start + batch_size * window], key=lambda i: lengths[i])
        batches += [np.asarray(chunk[i : i + batch_size]) for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
