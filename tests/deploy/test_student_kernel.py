"""The compiled student kernel against the dygraph BiLSTMClassifier it replaces, and its weights file's checks."""
import numpy as np
import paddle
import pytest

from ernie_distill.deploy.manifest import ExportError
from ernie_distill.models.student import BiLSTMClassifier, StudentConfig
from ernie_distill.deploy.student_kernel import StudentKernel, kernel_weights, load_kernel_weights


def random_student(hidden_size, ngram_vocab_size, num_classes=3, seed=0):
    paddle.seed(seed)
    model = BiLSTMClassifier(StudentConfig(vocab_size=50, num_classes=num_classes, embedding_dim=12,
                                           hidden_size=hidden_size, ngram_vocab_size=ngram_vocab_size, ngram_dim=10))
    model.eval()
    for parameter in model.parameters():  # larger than the default init, so that the gates saturate somewhere too
        parameter.set_value(paddle.randn(parameter.shape) * 0.8)
    return model


def padded_batch(lengths, bag_sizes, vocab_size=50, ngram_vocab_size=40, seed=0):
    rng = np.random.default_rng(seed)
    input_ids = np.zeros((len(lengths), max(lengths)), np.int64)
    ngram_ids = np.zeros((len(lengths), max(bag_sizes)), np.int64)
    for row, (length, bag) in enumerate(zip(lengths, bag_sizes)):
        input_ids[row, :length] = rng.integers(1, vocab_size, length)
        ngram_ids[row, :bag] = rng.integers(1, ngram_vocab_size, bag)
    return {"input_ids": input_ids, "seq_len": np.array(lengths, np.int64), "ngram_ids": ngram_ids}


def kernel_of(model, tmp_path):
    weights = kernel_weights({k: v.numpy() for k, v in model.state_dict().items()})
    np.savez(tmp_path / "inference.npz", **weights)
    return StudentKernel(str(tmp_path), model.config.vocab_size, model.config.ngram_vocab_size,
                         model.config.num_classes)


@pytest.mark.parametrize("hidden_size", [8, 6])  # 6: the recurrent product's rows are not a multiple of four
@pytest.mark.parametrize("lengths, bag_sizes", [
    ([1, 7, 30, 2, 30], [3, 1, 20, 4, 9]),  # mixed lengths, an odd batch
    ([19], [5]),  # one text, as a served request
    ([4, 4, 11, 11], [1, 2, 3, 4]),
])
def test_kernel_matches_the_dygraph_model(tmp_path, hidden_size, lengths, bag_sizes):
    model = random_student(hidden_size, ngram_vocab_size=40)
    batch = padded_batch(lengths, bag_sizes)
    with paddle.no_grad():
        expected = model(**{k: paddle.to_tensor(v) for k, v in batch.items()}).numpy()
    np.testing.assert_allclose(kernel_of(model, tmp_path)(batch), expected, atol=1e-5)


def test_padding_ids_are_zeros_whatever_the_stored_rows_hold(tmp_path):
    """Paddle's padding_idx outputs zeros for id 0; a kernel reading the stored row 0 would differ."""
    model = random_student(8, ngram_vocab_size=40)
    assert np.abs(model.embedding.weight.numpy()[0]).max() > 0
    batch = padded_batch([3, 9], [2, 8])
    batch["input_ids"][0, 1] = 0  # a [PAD] inside a text
    with paddle.no_grad():
        expected = model(**{k: paddle.to_tensor(v) for k, v in batch.items()}).numpy()
    np.testing.assert_allclose(kernel_of(model, tmp_path)(batch), expected, atol=1e-5)


def test_kernel_without_a_bag_matches_the_word_level_student(tmp_path):
    model = random_student(8, ngram_vocab_size=0)
    batch = padded_batch([5, 12, 1], [1, 1, 1])
    del batch["ngram_ids"]
    with paddle.no_grad():
        expected = model(**{k: paddle.to_tensor(v) for k, v in batch.items()}).numpy()
    np.testing.assert_allclose(kernel_of(model, tmp_path)(batch), expected, atol=1e-5)


def test_students_of_several_layers_get_no_kernel():
    paddle.seed(0)
    model = BiLSTMClassifier(StudentConfig(vocab_size=20, embedding_dim=8, hidden_size=4, num_layers=2))
    assert kernel_weights({k: v.numpy() for k, v in model.state_dict().items()}, num_layers=2) is None


def test_weights_that_do_not_fit_the_vocabularies_are_refused(tmp_path):
    model = random_student(8, ngram_vocab_size=40)
    weights = kernel_weights({k: v.numpy() for k, v in model.state_dict().items()})
    path = tmp_path / "inference.npz"
    np.savez(path, **weights)
    with pytest.raises(ExportError, match=r"gates has shape \(2, 50, 32\), expected \(2, 49, 32\)"):
        load_kernel_weights(str(path), vocab_size=49, ngram_vocab_size=40, num_classes=3)
    with pytest.raises(ExportError, match="ngram_projection has shape"):
        load_kernel_weights(str(path), vocab_size=50, ngram_vocab_size=41, num_classes=3)
    with pytest.raises(ExportError, match=r"classifier_bias has shape \(3,\), expected \(2,\)"):
        load_kernel_weights(str(path), vocab_size=50, ngram_vocab_size=40, num_classes=2)
    np.savez(path, **{k: v for k, v in weights.items() if k != "recurrent"})
    with pytest.raises(ExportError, match="re-export"):
        load_kernel_weights(str(path), vocab_size=50, ngram_vocab_size=40, num_classes=3)
    np.savez(path, **{**weights, "recurrent": weights["recurrent"].astype(np.float64)})
    with pytest.raises(ExportError, match="recurrent"):
        load_kernel_weights(str(path), vocab_size=50, ngram_vocab_size=40, num_classes=3)
    path.write_bytes(path.read_bytes()[:100])  # cut short: not a zip any more
    with pytest.raises(ExportError, match="re-export"):
        load_kernel_weights(str(path), vocab_size=50, ngram_vocab_size=40, num_classes=3)
