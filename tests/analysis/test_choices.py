"""Choice shares, the chi-square test, most-chosen models and justifications, on hand-checkable data."""

import pandas as pd
import pytest
from scipy import stats as sp

from analysis import choices


def choice_frame(rows):
    frame = pd.DataFrame(rows, columns=["participant", "dataset", "chosen_model", "justification"])
    frame["image"] = [f"img-{i}" for i in range(len(frame))]
    frame["class_name"] = "Bag"
    frame["left"], frame["middle"], frame["right"] = "N", "A", "M2"
    for column in ("participant", "image", "dataset", "class_name", "left", "middle", "right", "chosen_model"):
        frame[column] = frame[column].astype("category")
    return frame


@pytest.fixture
def frame():
    rows = ([("p1", "fmnist", "M2", "sharp")] * 3 + [("p1", "cifar10", "A", "ok")]
            + [("p2", "fmnist", "N", "n1"), ("p2", "cifar10", "A", "a1"), ("p2", "cifar10", "N", "n2"),
               ("p2", "fmnist", "A", "a2")]
            + [("p3", "cifar10", "M2", "<b>bold</b>")] * 2)
    return choice_frame(rows)


def test_shares_are_of_all_choices_overall_and_per_dataset(frame):
    shares = choices.choice_shares(frame, ["N", "A", "M2"])
    overall = shares[shares["dataset"] == "all"].set_index("model")
    assert overall["count"].to_dict() == {"N": 2, "A": 3, "M2": 5}
    assert overall["share"].to_dict() == pytest.approx({"N": 0.2, "A": 0.3, "M2": 0.5})
    cifar = shares[shares["dataset"] == "cifar10"].set_index("model")["count"].to_dict()
    assert cifar == {"N": 1, "A": 2, "M2": 2}


def test_goodness_of_fit_equals_scipy_against_equal_shares(frame):
    table = choices.choice_goodness_of_fit(choices.choice_shares(frame, ["N", "A", "M2"])).set_index("dataset")
    expected = sp.chisquare([2, 3, 5])
    assert table.loc["all", "chi2"] == pytest.approx(expected.statistic, rel=1e-12)
    assert table.loc["all", "p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert (table.loc["all", "df"], table.loc["all", "n"]) == (2, 10)
    assert table.loc["fmnist", "chi2"] == pytest.approx(sp.chisquare([1, 1, 3]).statistic)


def test_most_chosen_per_participant_names_ties(frame):
    table = choices.most_chosen(frame, ["N", "A", "M2"]).set_index("participant")
    assert table.loc["p1", "most_chosen"] == "M2" and table.loc["p1", "n_M2"] == 3
    assert table.loc["p2", "most_chosen"] == "N/A" and table.loc["p2", "n_choices"] == 4
    summary = choices.most_chosen_summary(table.reset_index(), ["N", "A", "M2"])
    assert summary.set_index("most_chosen")["participants"].to_dict() == {"M2": 2, "N/A": 1}


def test_justifications_are_grouped_by_the_chosen_model_in_model_order(frame):
    table = choices.justifications(frame, ["N", "A", "M2"])
    assert list(table["chosen_model"]) == ["N", "N", "A", "A", "A", "M2", "M2", "M2", "M2", "M2"]
    assert list(table["justification"][:2]) == ["n1", "n2"]


def test_offered_models_follow_the_requested_order_then_the_rest():
    frame = choice_frame([("p1", "fmnist", "M2", "x")])
    assert choices.offered_models(frame, ["M2", "N"]) == ["M2", "N", "A"]
