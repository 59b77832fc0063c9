"""Simulated participants' answers, and reading the survey's forms from its HTML.

Used by `manage.py simulate_participants` to rehearse a study: answers come from
configurable per-model, per-method or per-cell distributions (a known effect) and, on task pages, a chance of a right
answer per task condition; they are sent through the real pages. No Django import: the answer model is tested alone.
"""

import math
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np

from .schema import CONFIDENCE_LEVELS, NO_MAP_CONDITION, condition_name

LIKERT_VALUES = (1, 2, 3, 4, 5)
DEFAULT_MEAN = 3.0
DEFAULT_WEIGHT = 1.0
JUSTIFICATIONS = (
    "The highlighted region follows the object's outline.",
    "This map focuses on the parts that define the class.",
    "Less noise in the background than the other two.",
    "The bright areas match what I would look at.",
)


def parse_model_values(spec, option="--means", what="model"):
    """`"N=2.5,A=3,M2=3.5"` -> {"N": 2.5, "A": 3.0, "M2": 3.5}, in the given order; a clear ValueError otherwise.

    The one reader of a NAME=NUMBER list: simulate_participants' --means and --choice-weights, plan_study's
    --means, --method-effects (`what` "method") and --cell-means (`what` "cell").
    """
    values = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, sep, number = item.partition("=")
        code = code.strip()
        if not sep or not code:
            raise ValueError(f"{option}: expected {what.upper()}=NUMBER items separated by commas, got {item!r}.")
        if code in values:
            raise ValueError(f"{option}: {what} {code} is given twice.")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"{option}: {number.strip()!r} for {what} {code} is not a number.")
        values[code] = value
    return values


def split_cell(name, option):
    """`M2×IG` (the report's cell name) or `M2:IG` -> ("M2", "IG"); a ValueError naming `option` otherwise."""
    separator = "×" if "×" in name else ":"
    model, found, method = name.partition(separator)
    if not found or not model.strip() or not method.strip() or separator in method:
        raise ValueError(f"{option}: {name!r} is not a cell; write MODEL×METHOD or MODEL:METHOD, e.g. M2:IG=3.1.")
    return model.strip(), method.strip()


def parse_cell_values(spec, option="--cell-means", models_too=False):
    """`"N:VG=2.1,N:IG=2.4"` -> {("N", "VG"): 2.1, ("N", "IG"): 2.4}; with `models_too`, an item without a method
    (`N=1`) names a model and keeps its name as the key."""
    values = {}
    for name, value in parse_model_values(spec, option, "model or cell" if models_too else "cell").items():
        if models_too and ":" not in name and "×" not in name:
            values[name] = value
            continue
        cell = split_cell(name, option)
        if cell in values:
            raise ValueError(f"{option}: cell {cell[0]}:{cell[1]} is given twice.")
        values[cell] = value
    return values


@dataclass(frozen=True)
class Arm:
    """A between-participants condition as tasks.csv writes it: the condition's name, its model and method."""

    condition: str
    model: str
    method: str


def task_arms(names):
    """The arms of condition names as a plan or a rehearsal gives them: `MODEL×METHOD` (or `MODEL:METHOD`), a
    model's control `MODEL×none`, or a bare `none` where the explanation conditions are of one model (the control
    then belongs to it). ValueError naming what is wrong otherwise."""
    parsed = []
    for name in names:
        separator = "×" if "×" in name else ":"
        model, found, method = (part.strip() for part in name.partition(separator))
        if name.strip() == NO_MAP_CONDITION:
            parsed.append((None, NO_MAP_CONDITION))
        elif not found or not model or not method or separator in method:
            raise ValueError(f"{name!r} is not a condition: write {NO_MAP_CONDITION}, MODEL×{NO_MAP_CONDITION} or "
                             f"MODEL×METHOD (MODEL:METHOD also reads), e.g. N×VG.")
        else:
            parsed.append((model, method))
    models = list(dict.fromkeys(model for model, method in parsed if method != NO_MAP_CONDITION))
    if any(model is None for model, _ in parsed) and len(models) != 1:
        raise ValueError(f"a bare {NO_MAP_CONDITION} belongs to the model of the explanation conditions, but they "
                         f"name {len(models)} models ({', '.join(models) or 'none'}): name each control MODEL×"
                         f"{NO_MAP_CONDITION}, e.g. N×{NO_MAP_CONDITION}.")
    arms = [Arm(NO_MAP_CONDITION, model or models[0], "") if method == NO_MAP_CONDITION
            else Arm(condition_name(model, method), model, method) for model, method in parsed]
    repeated = [f"{arm.condition} of {arm.model}" for arm, count in Counter(arms).items() if count > 1]
    if repeated:
        raise ValueError(f"condition(s) {', '.join(repeated)} given twice.")
    return arms


def parse_task_accuracy(spec, option="--accuracy"):
    """`"none=0.55,N×VG=0.7"` (plan_study's --task-accuracy form: task_arms' names) -> {(model, method): the chance
    of a right answer}, method "" for a no-map control; a ValueError naming `option` otherwise."""
    values = parse_model_values(spec, option, "condition")
    try:
        arms = task_arms(list(values))
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from None
    outside = [f"{name}={value}" for name, value in values.items() if not 0 <= value <= 1]
    if outside:
        raise ValueError(f"{option}: accuracies {', '.join(outside)} are not between 0 and 1.")
    return {(arm.model, arm.method): value for arm, value in zip(arms, values.values())}


def likert_answers(latent):
    """Simulated ratings as answers: each latent score rounded to the nearest of 1-5 (clipped to the scale)."""
    return np.clip(np.rint(latent), LIKERT_VALUES[0], LIKERT_VALUES[-1]).astype(np.int64)


@dataclass(frozen=True)
class AnswerModel:
    """How simulated participants answer, per model (variant code), method and model x method cell.

    Ratings: a normal around the map's mean with standard deviation `rating_sd`, rounded and
    clipped to 1-5, drawn independently for each statement. A map's mean is its cell's
    (`cell_means`, keyed by (model, method)) where given, else its model's (`rating_means`,
    DEFAULT_MEAN where not given) plus its method's effect (`method_effects`, 0 where not given).
    Side-by-side choices: each shown map is picked with probability proportional to its weight:
    its cell's where given (a (model, method) key of `choice_weights`), else its model's, else 1.
    Attention checks: answered as instructed, except with probability `attention_failure_rate`.
    Task pages (issue 29): each question is answered right with the chance its participant's condition has in
    `task_accuracy` ((model, method) -> chance, method "" for the no-map control; parse_task_accuracy), otherwise with
    one of the other options at random; a condition not given answers at random among the options shown. A
    confidence is drawn at random from 1-5.
    """

    rating_means: dict = field(default_factory=dict)
    rating_sd: float = 1.0
    choice_weights: dict = field(default_factory=dict)
    attention_failure_rate: float = 0.0
    method_effects: dict = field(default_factory=dict)
    cell_means: dict = field(default_factory=dict)
    task_accuracy: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.rating_sd >= 0:
            raise ValueError(f"The rating standard deviation must be >= 0, got {self.rating_sd}.")
        if not 0 <= self.attention_failure_rate <= 1:
            raise ValueError(f"The attention failure rate must be within 0-1, got {self.attention_failure_rate}.")
        if any(weight < 0 for weight in self.choice_weights.values()):
            raise ValueError(f"Choice weights must be >= 0, got {self.choice_weights}.")
        if not all(0 <= chance <= 1 for chance in self.task_accuracy.values()):
            raise ValueError(f"Task accuracies must be within 0-1, got {self.task_accuracy}.")

    def mean(self, model, method=None):
        if (model, method) in self.cell_means:
            return self.cell_means[model, method]
        return self.rating_means.get(model, DEFAULT_MEAN) + self.method_effects.get(method, 0.0)

    def rating(self, rng, model, method=None):
        """(sufficiency, trust) for a map made by `model` with `method`."""
        sufficiency, trust = likert_answers(rng.normal(self.mean(model, method), self.rating_sd, size=2))
        return int(sufficiency), int(trust)

    def weight(self, model, method=None):
        return self.choice_weights.get((model, method), self.choice_weights.get(model, DEFAULT_WEIGHT))

    def choice(self, rng, models, methods=None):
        """Index of the chosen one among the displayed maps of `models` (made with `methods`)."""
        methods = [None] * len(models) if methods is None else methods
        weights = np.array([self.weight(model, method) for model, method in zip(models, methods)], dtype=float)
        if weights.sum() == 0:
            weights[:] = 1.0
        return int(rng.choice(len(models), p=weights / weights.sum()))

    def attention(self, rng, target, answers=LIKERT_VALUES):
        """The answer to "select `target` here" among `answers`."""
        if rng.random() >= self.attention_failure_rate:
            return target
        return int(rng.choice([value for value in answers if value != target]))

    def task_answer(self, rng, options, right, condition):
        """The option chosen among `options` (`right` the right one) by a participant in `condition`."""
        chance = self.task_accuracy.get(condition)
        if chance is None:
            return str(rng.choice(options))
        if rng.random() < chance:
            return right
        return str(rng.choice([option for option in options if option != right]))

    @staticmethod
    def confidence(rng):
        return int(rng.choice(CONFIDENCE_LEVELS))

    @staticmethod
    def justification(rng):
        return str(rng.choice(JUSTIFICATIONS))


def participant_rng(seed, index):
    """The random stream of the `index`-th simulated participant of a run seeded with `seed`."""
    return np.random.default_rng([seed, index])


@dataclass
class Form:
    """A form as a browser sees it: where it posts, and its controls in page order."""

    action: str
    method: str
    inputs: list = field(default_factory=list)  # (type, name, value) of <input>
    selects: dict = field(default_factory=dict)  # name -> option values (non-empty ones)
    textareas: list = field(default_factory=list)  # names

    def hidden(self):
        """The values a browser sends without asking: hidden inputs (CSRF token, trial reference)."""
        return {name: value for kind, name, value in self.inputs if kind == "hidden" and name}

    def choices(self, name):
        """The values offered by radio buttons or a select called `name`, in page order."""
        radios = [value for kind, n, value in self.inputs if kind in ("radio", "checkbox") and n == name]
        return radios or self.selects.get(name, [])

    def names(self, kind):
        return list(dict.fromkeys(n for k, n, _ in self.inputs if k == kind and n))


class FormParser(HTMLParser):
    """Collects a page's forms, image sources and `rel="next"` links (a learning page's feedback goes on by one)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.images = []
        self.next_links = []
        self._select = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "a" and attrs.get("rel") == "next":
            self.next_links.append(attrs.get("href", ""))
        if tag == "form":
            self.forms.append(Form(action=attrs.get("action", ""), method=attrs.get("method", "get").lower()))
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif not self.forms:
            return
        elif tag == "input":
            self.forms[-1].inputs.append((attrs.get("type", "text").lower(), attrs.get("name", ""),
                                          attrs.get("value", "")))
        elif tag == "select":
            self._select = attrs.get("name", "")
            self.forms[-1].selects[self._select] = []
        elif tag == "option" and self._select is not None and attrs.get("value"):
            self.forms[-1].selects[self._select].append(attrs["value"])
        elif tag == "textarea":
            self.forms[-1].textareas.append(attrs.get("name", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def read_page(html):
    """An HTML page's FormParser: its forms, image sources and next links."""
    parser = FormParser()
    parser.feed(html)
    parser.close()
    return parser


def parse_page(html):
    """(forms, image sources) of an HTML page."""
    parser = read_page(html)
    return parser.forms, parser.images


def random_answers(form, rng):
    """What a participant sends for `form`: a random choice for every question, a justification, a ticked consent.

    benchmarks/load.py and the tests of serving at once play participants with it.
    """
    data = form.hidden()
    for name in form.names("radio"):
        data[name] = str(rng.choice(form.choices(name)))
    for name in form.names("checkbox"):
        data[name] = "on"
    for name, options in form.selects.items():
        data[name] = str(rng.choice(options))
    for name in form.names("number") + form.names("text"):
        data[name] = str(rng.integers(0, 10))
    for name in form.textareas:
        data[name] = str(rng.choice(JUSTIFICATIONS))
    return data
