"""The simulated answer model and the HTML form reader, alone (no database)."""

import numpy as np
import pytest

from studyapp.simulation import (
    AnswerModel, parse_cell_values, parse_model_values, parse_page, parse_task_accuracy, participant_rng,
)


def test_model_values_parse_and_bad_specs_say_what_is_wrong():
    assert parse_model_values("N=2.5, A=3,M2=3.5") == {"N": 2.5, "A": 3.0, "M2": 3.5}
    assert parse_model_values("") == {}
    with pytest.raises(ValueError, match=r"--means: expected MODEL=NUMBER items .* got 'N2.5'"):
        parse_model_values("N2.5", "--means")
    with pytest.raises(ValueError, match="'high' for model A is not a number"):
        parse_model_values("A=high")
    with pytest.raises(ValueError, match="model N is given twice"):
        parse_model_values("N=1,N=2")


def test_cells_parse_in_either_notation_and_bad_cells_say_what_is_wrong():
    assert parse_cell_values("N:VG=2.1, M2×IG=3") == {("N", "VG"): 2.1, ("M2", "IG"): 3.0}
    assert parse_cell_values("N=1,N:IG=4", "--choice-weights", models_too=True) == {"N": 1.0, ("N", "IG"): 4.0}
    with pytest.raises(ValueError, match=r"--cell-means: 'N' is not a cell; write MODEL×METHOD or MODEL:METHOD"):
        parse_cell_values("N=2")
    with pytest.raises(ValueError, match="cell N:VG is given twice"):
        parse_cell_values("N:VG=2,N×VG=3")


def test_a_maps_mean_is_its_cells_or_its_models_plus_its_methods_effect():
    model = AnswerModel(rating_means={"N": 2.0}, method_effects={"IG": 0.5}, cell_means={("M2", "IG"): 4.5},
                        choice_weights={"N": 2.0, ("N", "IG"): 7.0})
    assert [model.mean("N", "VG"), model.mean("N", "IG"), model.mean("A", "IG"), model.mean("M2", "IG")] == [
        2.0, 2.5, 3.5, 4.5]
    assert [model.weight("N", "VG"), model.weight("N", "IG"), model.weight("A", "IG")] == [2.0, 7.0, 1.0]
    rng = np.random.default_rng(4)
    picks = [model.choice(rng, ["N", "N", "A"], ["VG", "IG", "IG"]) for _ in range(3000)]
    assert picks.count(1) / len(picks) == pytest.approx(0.7, abs=0.03)


def test_ratings_follow_each_models_mean_and_stay_on_the_scale():
    model = AnswerModel(rating_means={"N": 2.0, "M2": 4.0}, rating_sd=1.0)
    rng = np.random.default_rng(1)
    draws = {code: np.array([model.rating(rng, code) for _ in range(4000)]) for code in ("N", "A", "M2")}
    for code, expected in (("N", 2.0), ("A", 3.0), ("M2", 4.0)):  # A: the default mean
        assert draws[code].min() >= 1 and draws[code].max() <= 5
        assert abs(draws[code].mean() - expected) < 0.08
    assert set(np.unique(draws["A"])) == {1, 2, 3, 4, 5}


def test_zero_spread_gives_the_rounded_mean():
    model = AnswerModel(rating_means={"N": 6.4, "A": 2.4}, rating_sd=0)
    rng = np.random.default_rng(0)
    assert model.rating(rng, "N") == (5, 5) and model.rating(rng, "A") == (2, 2)


def test_choices_follow_the_weights_whatever_the_position():
    model = AnswerModel(choice_weights={"M2": 6, "A": 3, "N": 1})
    rng = np.random.default_rng(2)
    shown = [("N", "A", "M2"), ("M2", "N", "A"), ("A", "M2", "N")]
    picks = [shown[k % 3][model.choice(rng, shown[k % 3])] for k in range(6000)]
    shares = {code: picks.count(code) / len(picks) for code in ("N", "A", "M2")}
    assert shares == pytest.approx({"N": 0.1, "A": 0.3, "M2": 0.6}, abs=0.02)
    assert AnswerModel(choice_weights={"N": 0}).choice(rng, ["N", "N", "N"]) in (0, 1, 2)


def test_attention_checks_fail_at_the_configured_rate_with_a_wrong_answer():
    rng = np.random.default_rng(3)
    assert {AnswerModel().attention(rng, 4) for _ in range(200)} == {4}
    answers = [AnswerModel(attention_failure_rate=0.25).attention(rng, 2) for _ in range(4000)]
    failed = [a for a in answers if a != 2]
    assert abs(len(failed) / len(answers) - 0.25) < 0.03
    assert set(failed) == {1, 3, 4, 5}


def test_task_answers_are_right_at_their_conditions_chance_and_otherwise_random():
    rng = np.random.default_rng(5)
    model = AnswerModel(task_accuracy=parse_task_accuracy("none=0.3,N×VG=0.8"))
    options = ["Coat", "Shirt", "Bag", "Sandal"]
    for condition, chance in ((("N", ""), 0.3), (("N", "VG"), 0.8), (("A", "VG"), 0.25)):
        answers = [model.task_answer(rng, options, "Shirt", condition) for _ in range(4000)]
        assert abs(answers.count("Shirt") / len(answers) - chance) < 0.03
        assert set(answers) == set(options)
    assert {model.attention(rng, 2, range(1, 3)) for _ in range(100)} == {2}


def test_task_accuracies_read_as_plan_studys_and_bad_ones_say_what_is_wrong():
    assert parse_task_accuracy("N×none=0.5,N:VG=0.7,A×none=0.4,A×IG=0.6") == {
        ("N", ""): 0.5, ("N", "VG"): 0.7, ("A", ""): 0.4, ("A", "IG"): 0.6}
    for spec, message in (("none=0.5,N×VG=2", "accuracies N×VG=2.0 are not between 0 and 1"),
                          ("none=0.5,N×VG=0.6,A×VG=0.6", "a bare none belongs to the model"),
                          ("N×VG=0.5,N×VG=0.6", "condition N×VG is given twice")):
        with pytest.raises(ValueError, match=f"--accuracy: {message}"):
            parse_task_accuracy(spec)


@pytest.mark.parametrize("fields, message", [
    ({"rating_sd": -1}, "standard deviation must be >= 0"),
    ({"attention_failure_rate": 1.5}, "within 0-1"),
    ({"choice_weights": {"N": -1}}, "Choice weights must be >= 0"),
    ({"task_accuracy": {("N", ""): 1.5}}, "Task accuracies must be within 0-1"),
])
def test_impossible_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        AnswerModel(**fields)


def test_the_same_seed_gives_the_same_answers_and_participants_differ():
    model = AnswerModel(rating_means={"M2": 4.0}, choice_weights={"M2": 3})

    def answers(index):
        rng = participant_rng(0, index)
        return ([model.rating(rng, "M2") for _ in range(20)], [model.choice(rng, ["N", "A", "M2"]) for _ in range(20)],
                model.justification(rng))

    assert answers(0) == answers(0)
    assert answers(0) != answers(1)


def test_forms_are_read_as_a_browser_sees_them():
    html = """
    <img src="/img/abc/image/" alt="x"><form method="get" action="/search/"><input name="q"></form>
    <form method="POST" action="/trial/3/">
      <input type="hidden" name="csrfmiddlewaretoken" value="tok&amp;en">
      <input type="hidden" name="trial" value="T0k">
      <label><input type="radio" name="choice" value="left" required> Map 1</label>
      <label><input type="radio" name="choice" value="middle"> Map 2</label>
      <label><input type="radio" name="choice" value="right"> Map 3</label>
      <select name="degree"><option value="">Choose one</option><option value="master">M</option>
        <option value="phd" selected>P</option></select>
      <input type="checkbox" name="agree" value="on">
      <textarea name="justification"></textarea>
    </form><img src="/img/abc/1/">"""
    forms, images = parse_page(html)
    assert images == ["/img/abc/image/", "/img/abc/1/"]
    search, answer = forms
    assert (search.method, search.action, search.names("text")) == ("get", "/search/", ["q"])
    assert (answer.method, answer.action) == ("post", "/trial/3/")
    assert answer.hidden() == {"csrfmiddlewaretoken": "tok&en", "trial": "T0k"}
    assert answer.choices("choice") == ["left", "middle", "right"]
    assert answer.choices("degree") == ["master", "phd"]
    assert answer.names("checkbox") == ["agree"] and answer.textareas == ["justification"]
