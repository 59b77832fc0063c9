"""Simulated participants' answers, and reading the survey's forms from its HTML.

Used by `manage.py simulate_participants` to rehearse a study: answers come from
configurable per-model distributions (a known effect) and are sent through the real pages.
No Django import: the answer model is tested alone.
"""

import math
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np

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


def likert_answers(latent):
    """Simulated ratings as answers: each latent score rounded to the nearest of 1-5 (clipped to the scale)."""
    return np.clip(np.rint(latent), LIKERT_VALUES[0], LIKERT_VALUES[-1]).astype(np.int64)


@dataclass(frozen=True)
class AnswerModel:
    """How simulated participants answer, per model (variant code).

    Ratings: a normal around the model's mean with standard deviation `rating_sd`, rounded and
    clipped to 1-5, drawn independently for each statement. Side-by-side choices: each shown
    model is picked with probability proportional to its weight. Attention checks: answered as
    instructed, except with probability `attention_failure_rate`.
    """

    rating_means: dict = field(default_factory=dict)
    rating_sd: float = 1.0
    choice_weights: dict = field(default_factory=dict)
    attention_failure_rate: float = 0.0

    def __post_init__(self):
        if not self.rating_sd >= 0:
            raise ValueError(f"The rating standard deviation must be >= 0, got {self.rating_sd}.")
        if not 0 <= self.attention_failure_rate <= 1:
            raise ValueError(f"The attention failure rate must be within 0-1, got {self.attention_failure_rate}.")
        if any(weight < 0 for weight in self.choice_weights.values()):
            raise ValueError(f"Choice weights must be >= 0, got {self.choice_weights}.")

    def mean(self, model):
        return self.rating_means.get(model, DEFAULT_MEAN)

    def rating(self, rng, model):
        """(sufficiency, trust) for a map made by `model`."""
        sufficiency, trust = likert_answers(rng.normal(self.mean(model), self.rating_sd, size=2))
        return int(sufficiency), int(trust)

    def choice(self, rng, models):
        """Index of the chosen one among the displayed `models`."""
        weights = np.array([self.choice_weights.get(model, DEFAULT_WEIGHT) for model in models], dtype=float)
        if weights.sum() == 0:
            weights[:] = 1.0
        return int(rng.choice(len(models), p=weights / weights.sum()))

    def attention(self, rng, target):
        """The answer to "select `target` here"."""
        if rng.random() >= self.attention_failure_rate:
            return target
        return int(rng.choice([value for value in LIKERT_VALUES if value != target]))

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
    """Collects a page's forms and image sources."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.images = []
        self._select = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
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


def parse_page(html):
    """(forms, image sources) of an HTML page."""
    parser = FormParser()
    parser.feed(html)
    parser.close()
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
