"""The exported student's whole forward pass as one compiled CPU function (numba): `--backend numba`.

It computes what BiLSTMClassifier computes, in float32 (export checks it against the dygraph model to 1e-5; tanh and
the sigmoid are rational approximations within 2e-7), and on 2 cores it is faster than ONNX Runtime's int8 model:
- the embedding is folded into the LSTM's input weights when exporting: a token's input to the gates,
  embedding @ W_ih^T + b_ih + b_hh, is one row of a table, so each step only adds the recurrent product h @ W_hh^T
  (32 x 128 multiply-adds a direction for the default student, instead of (200 + 32) x 128); the table holds
  8 x hidden floats a token (the embedding 200), 3.7 MB for the default student's 3,630 characters;
- the bag's embedding is folded into the layer above it the same way (the mean of the entries' embeddings times
  W_bag is the mean of their rows of embedding @ W_bag): an entry costs a row of the layer's width (32 floats for the
  default student, not the bag's 64), which halves what a text reads of the largest table;
- a text's two directions run side by side, two independent chains of steps (as fast as pairing two texts, which
  shares the loads of the weights but wastes steps on the shorter text), and the pooling and the layers follow with no
  intermediate tensors.
The function releases the GIL, so the Predictor runs batches on several threads at once. numba compiles it on first
use (seconds) and caches the machine code beside this file, or in numba's user cache where that is read-only, or
keeps it in memory where no cache can be written (ernie_distill/jit.py).

No Paddle here: export_model.py builds the weights from the student's state dict (`kernel_weights`) and saves them as
KERNEL_FILE, a NumPy .npz that is read without pickle.
"""
import os
import time
import zipfile

import numpy as np

from ..jit import njit_cached
from ..log import logger
from .manifest import KERNEL_FILE, ExportError

# kernel weight name -> its number of dimensions
KERNEL_ARRAYS = {"gates": 3, "recurrent": 3, "ngram_projection": 2, "hidden_weight": 2, "hidden_bias": 1,
                 "classifier_weight": 2, "classifier_bias": 1}


def kernel_weights(state_dict, num_layers=1):
    """The kernel's arrays from a BiLSTMClassifier state dict of numpy arrays; None for a student the kernel cannot run
    (more than one LSTM layer)."""
    if num_layers != 1:
        return None
    embedding = state_dict["embedding.weight"].astype(np.float64)
    embedding[0] = 0  # padding_idx: the layer outputs zeros for id 0 whatever the stored row holds

    def folded(suffix):
        return (embedding @ state_dict["lstm.weight_ih_l0" + suffix].T + state_dict["lstm.bias_ih_l0" + suffix]
                + state_dict["lstm.bias_hh_l0" + suffix])

    pooled_size = 4 * state_dict["lstm.weight_hh_l0"].shape[1]  # max and mean of both directions
    hidden_weight = state_dict["hidden.weight"]  # [pooled_size + bag dimension, layer]
    if "ngram_embedding.weight" in state_dict:  # the bag's part of the layer, one row an entry
        ngram_embedding = state_dict["ngram_embedding.weight"].astype(np.float64)
        ngram_embedding[0] = 0
        ngram_projection = ngram_embedding @ hidden_weight[pooled_size:]
    else:  # no bag
        ngram_projection = np.zeros((1, hidden_weight.shape[1]))
    arrays = {
        "gates": np.stack([folded(""), folded("_reverse")]),  # [direction, vocab, 4 * hidden]
        "recurrent": np.stack([state_dict["lstm.weight_hh_l0"].T, state_dict["lstm.weight_hh_l0_reverse"].T]),
        "ngram_projection": ngram_projection, "hidden_weight": hidden_weight[:pooled_size],
        "hidden_bias": state_dict["hidden.bias"], "classifier_weight": state_dict["classifier.weight"],
        "classifier_bias": state_dict["classifier.bias"],
    }
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in arrays.items()}


def load_kernel_weights(path, vocab_size, ngram_vocab_size, num_classes):
    """The arrays of a KERNEL_FILE, checked against each other, the vocabularies and the labels (the kernel does not
    bounds-check its indexing: a mismatch must be refused here)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in KERNEL_ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ExportError(f"{path} is not a kernel weights file of this version ({err}); re-export with "
                          "export_model.py") from None
    problems = [f"{name} is {array.ndim}-d {array.dtype}, not {KERNEL_ARRAYS[name]}-d float32"
                for name, array in arrays.items() if array.ndim != KERNEL_ARRAYS[name] or array.dtype != np.float32]
    if not problems:
        hidden, layer = arrays["recurrent"].shape[1], arrays["hidden_bias"].shape[0]
        expected = {"gates": (2, vocab_size, 4 * hidden), "recurrent": (2, hidden, 4 * hidden),
                    "ngram_projection": (ngram_vocab_size or 1, layer), "hidden_weight": (4 * hidden, layer),
                    "classifier_weight": (layer, num_classes), "classifier_bias": (num_classes,)}
        problems = [f"{name} has shape {arrays[name].shape}, expected {shape}" for name, shape in expected.items()
                    if arrays[name].shape != shape]
    if problems:
        raise ExportError(f"{path}: {'; '.join(problems)}; re-export with export_model.py")
    return arrays


class StudentKernel:
    """Logits of padded batches (the arrays StudentInputs.batch makes) from the KERNEL_FILE of an export."""

    def __init__(self, model_dir, vocab_size, ngram_vocab_size, num_classes):
        path = os.path.join(model_dir, KERNEL_FILE)
        if not os.path.isfile(path):
            raise ExportError(f"{model_dir} has no {KERNEL_FILE} (exports made before the compiled kernel existed, "
                              "and students of more than one LSTM layer, have none): re-export with export_model.py, "
                              "or use --backend onnx")
        self.weights = load_kernel_weights(path, vocab_size, ngram_vocab_size, num_classes)
        self.compile()

    def compile(self):
        """Compile the kernel for these arrays now, not at the first request: the first time on a machine numba takes
        seconds (then its cache serves each new process at once), and a silent first prediction looks like a hang."""
        if bilstm_classifier_logits.signatures:  # compiled in this process
            return
        cache_file = getattr(bilstm_classifier_logits._cache, "_cache_file", None)  # None: no cache (jit.py)
        compiling = cache_file is None or not os.path.isfile(cache_file._index_path)
        if compiling:
            logger.info("compiling the student kernel (once; ~10 s)...")
        started = time.perf_counter()
        self({"input_ids": np.ones((1, 1), np.int64), "seq_len": np.ones(1, np.int64),
              "ngram_ids": np.zeros((1, 1), np.int64)})
        if compiling or sum(bilstm_classifier_logits.stats.cache_misses.values()):  # (a cache of another machine)
            logger.info("compiled in %.1f s", time.perf_counter() - started)

    def __call__(self, inputs):
        ngram_ids = inputs.get("ngram_ids")
        if ngram_ids is None:  # no bag: zero entries per text
            ngram_ids = np.zeros((len(inputs["seq_len"]), 0), np.int64)
        return bilstm_classifier_logits(inputs["input_ids"], inputs["seq_len"], ngram_ids, **self.weights)


# fastmath: reassociation and vector instructions; error_model numpy: a division does not check for zero (it would
# stop the loops from being vectorized); nogil: threads run batches at once (njit_cached: compiled once, not per
# process)
_COMPILE = dict(fastmath=True, error_model="numpy", nogil=True)
_TANH_CLAMP = np.float32(7.90531110763549805)  # tanh is 1.0 in float32 beyond this


@njit_cached(inline="always", **_COMPILE)
def _tanh(x):
    """float32 tanh as a rational function (Eigen's and XLA's): within 2e-7 of tanh, and vectorizable."""
    x = x if x < _TANH_CLAMP else _TANH_CLAMP
    x = x if x > -_TANH_CLAMP else -_TANH_CLAMP
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@njit_cached(inline="always", **_COMPILE)
def _sigmoid(x):
    return np.float32(0.5) * _tanh(np.float32(0.5) * x) + np.float32(0.5)


@njit_cached(**_COMPILE)
def _bilstm(ids, length, gates, recurrent, acc, h, c, max_pooled, mean_pooled):
    """One text's ids[:length] through the LSTM in both directions at once (two independent chains of dependent steps
    keep the core busier than one). Writes the max and the mean of each direction's outputs over its steps into
    max_pooled and mean_pooled [direction, hidden]."""
    hidden = recurrent.shape[1]
    gate_count = 4 * hidden
    blocked = hidden - hidden % 4
    forward, backward = recurrent[0], recurrent[1]
    h[:] = 0
    c[:] = 0
    max_pooled[:] = -2  # below any output (an output is o * tanh(c), within (-1, 1)); -inf and fastmath do not mix
    mean_pooled[:] = 0
    for step in range(length):
        # each direction's input to the gates is a row of its folded table
        acc[0] = gates[0, ids[step]]
        acc[1] = gates[1, ids[length - 1 - step]]
        # acc += h @ recurrent for both directions, four rows of the weights at a time
        for k in range(0, blocked, 4):
            a0, a1, a2, a3 = h[0, k], h[0, k + 1], h[0, k + 2], h[0, k + 3]
            b0, b1, b2, b3 = h[1, k], h[1, k + 1], h[1, k + 2], h[1, k + 3]
            for j in range(gate_count):
                acc[0, j] += (a0 * forward[k, j] + a1 * forward[k + 1, j] + a2 * forward[k + 2, j]
                              + a3 * forward[k + 3, j])
                acc[1, j] += (b0 * backward[k, j] + b1 * backward[k + 1, j] + b2 * backward[k + 2, j]
                              + b3 * backward[k + 3, j])
        for k in range(blocked, hidden):
            for j in range(gate_count):
                acc[0, j] += h[0, k] * forward[k, j]
                acc[1, j] += h[1, k] * backward[k, j]
        _cell(acc, h, c, max_pooled, mean_pooled, 0)
        _cell(acc, h, c, max_pooled, mean_pooled, 1)
    mean_pooled *= np.float32(1) / np.float32(length)


@njit_cached(inline="always", **_COMPILE)
def _cell(acc, h, c, max_pooled, mean_pooled, row):
    """The LSTM cell of one row from the gates' pre-activations acc (Paddle's order: input, forget, candidate,
    output). Indexed by row rather than given row views: a view costs reference counting at every step."""
    hidden = h.shape[1]
    for j in range(hidden):
        cell = _sigmoid(acc[row, hidden + j]) * c[row, j] + _sigmoid(acc[row, j]) * _tanh(acc[row, 2 * hidden + j])
        c[row, j] = cell
        out = _sigmoid(acc[row, 3 * hidden + j]) * _tanh(cell)
        h[row, j] = out
        max_pooled[row, j] = out if out > max_pooled[row, j] else max_pooled[row, j]
        mean_pooled[row, j] += out


@njit_cached(inline="always", **_COMPILE)
def _head(max_pooled, mean_pooled, ngram_ids, ngram_projection, hidden_weight, hidden_bias, classifier_weight,
          features, layer, logits):
    """The ReLU layer of a text's pooled outputs (max and mean, [direction, hidden]) and of its bag (the mean of its
    entries' rows of ngram_projection), then the classifier into logits (which hold the classifier's bias)."""
    hidden = max_pooled.shape[1]
    features[:hidden] = max_pooled[0]
    features[hidden : 2 * hidden] = max_pooled[1]
    features[2 * hidden : 3 * hidden] = mean_pooled[0]
    features[3 * hidden : 4 * hidden] = mean_pooled[1]
    layer[:] = 0
    count = 0
    for entry in ngram_ids:
        if entry != 0:  # padding
            count += 1
            projected = ngram_projection[entry]
            for j in range(layer.shape[0]):
                layer[j] += projected[j]
    if count > 1:
        scale = np.float32(1) / np.float32(count)
        for j in range(layer.shape[0]):
            layer[j] *= scale
    layer += hidden_bias
    for k in range(features.shape[0]):
        for j in range(layer.shape[0]):
            layer[j] += features[k] * hidden_weight[k, j]
    for k in range(layer.shape[0]):
        if layer[k] > 0:  # ReLU
            for j in range(logits.shape[0]):
                logits[j] += layer[k] * classifier_weight[k, j]


@njit_cached(**_COMPILE)
def bilstm_classifier_logits(input_ids, seq_len, ngram_ids, gates, recurrent, ngram_projection, hidden_weight,
                             hidden_bias, classifier_weight, classifier_bias):
    """BiLSTMClassifier.forward in eval mode: [batch, classes] logits of 0-padded input_ids [batch, time] with true
    lengths seq_len [batch] (each >= 1) and 0-padded ngram_ids [batch, entries]. One text at a time, in both directions
    at once."""
    hidden = recurrent.shape[1]
    batch = len(seq_len)
    acc = np.empty((2, 4 * hidden), np.float32)
    h = np.empty((2, hidden), np.float32)
    c = np.empty((2, hidden), np.float32)
    max_pooled = np.empty((2, hidden), np.float32)  # [direction, hidden]
    mean_pooled = np.empty((2, hidden), np.float32)
    features = np.empty(4 * hidden, np.float32)  # max, mean (forward, backward)
    layer = np.empty(hidden_bias.shape[0], np.float32)
    logits = np.empty((batch, classifier_bias.shape[0]), np.float32)
    logits[:] = classifier_bias
    for row in range(batch):
        _bilstm(input_ids[row], seq_len[row], gates, recurrent, acc, h, c, max_pooled, mean_pooled)
        _head(max_pooled, mean_pooled, ngram_ids[row], ngram_projection, hidden_weight, hidden_bias, classifier_weight,
              features, layer, logits[row])
    return logits
