import pytest

from ernie_distill.training.scores import classification_scores


def test_per_class_scores_and_macro_f1_by_hand():
    # class a: 2 of 3 found, 1 false alarm; class b: 1 of 1; class c (rare): 0 of 1, never predicted
    scores = classification_scores([0, 0, 1, 0, 1], [0, 0, 1, 2, 0], ["a", "b", "c"])
    a, b, c = (scores["per_class"][name] for name in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert c == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3, abs=1e-6)
    assert scores["confusion"] == [[2, 1, 0], [0, 1, 0], [1, 0, 0]]  # rows: the gold class; columns: the predicted


def test_mcnemar_exact_against_the_binomial_by_hand():
    from ernie_distill.training.scores import mcnemar_exact

    a = [True] * 10 + [True] * 7 + [False] * 2 + [False] * 5  # 7 only-a, 2 only-b
    b = [True] * 10 + [False] * 7 + [True] * 2 + [False] * 5
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (7, 2)
    assert result["p_value"] == pytest.approx(2 * (1 + 9 + 36) / 512)  # 2 * P(X <= 2), X ~ Bin(9, 1/2)
    assert mcnemar_exact([True, False], [True, False])["p_value"] == 1.0  # no discordant pair
