import pytest

from ernie_distill.training.scores import classification_scores


def test_per_class_scores_and_macro_f1_by_hand():
    # class a: 2 of 3 found, 1 false alarm; class b: 1 of 1; class c (rare): 0 of 1, never predicted
    scores = classification_scores([0, 0, 1, 0, 1], [0, 0, 1, 2, 0], ["a", "b", "c"])
    a, b, c = (scores["per_class"][name] for name in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert c == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert (a["predicted"], b["predicted"]) == (3, 2)
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


@pytest.mark.parametrize("predictions, says", [
    ([0] * 8 + [1, 1], ["within 5 points of the majority-class rate 60.00%", "predicts 'a' for 80%"]),  # 60% right
    ([0] * 10, ["within 5 points", "predicts 'a' for 100%"]),  # always the majority class
    ([0] * 6 + [1] * 2 + [2] * 2, []),  # all right: no warning
])
def test_guessing_check_warns_near_the_majority_rate_or_one_class_for_everything(predictions, says):
    from ernie_distill.training.scores import guessing_check

    labels = [0] * 6 + [1] * 2 + [2] * 2
    check = guessing_check(classification_scores(predictions, labels, ["a", "b", "c"]), "more epochs",
                           one_class_share=0.8)
    assert check["majority_rate"] == 0.6
    assert check["top_predicted_share"] == max(predictions.count(i) for i in range(3)) / 10
    if says:
        assert check["warning"].startswith("barely better than guessing") and check["warning"].endswith("more epochs")
        assert all(part in check["warning"] for part in says), check["warning"]
    else:
        assert check["warning"] is None


def test_predicting_the_majority_of_a_skewed_data_set_is_no_warning_when_it_is_right():
    from ernie_distill.training.scores import guessing_check

    labels = [0] * 95 + [1] * 5  # 95% of one class: predicting it 96% of the time, 99% right, has learnt
    predictions = [0] * 96 + [1] * 4
    assert guessing_check(classification_scores(predictions, labels, ["a", "b"]), "x")["warning"] is None
