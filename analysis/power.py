"""Power by simulation: whole studies of a planned design, each analysed by the report's own tests.

One factor (`Design`): every participant rates every image under every model; a rating is the model's mean
plus the participant's and the image's random intercept plus residual noise, rounded and clipped to 1-5 (as
`simulate_participants` answers). pipeline.model_tests, the tests `manage.py analyze` runs, decides on each.

Two factors (`FactorialDesign`, model x method): each participant rates the images under the cells the study's
own design gives them (studyapp.randomization: every cell, or the balanced incomplete design of
`views_per_image`, participant k being the k-th enrolled); a rating is the cell's mean plus the same random
intercepts and noise. pipeline.factor_tests, the two-factor tests `analyze` runs (the crossed mixed model
rating ~ model * method + (1|participant) + (1|image) with Holm contrasts within each factor, and Friedman per
factor), decides on each. Either way a planned power is the power of the report such a study would get.
"""

import itertools
import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
from tqdm import tqdm

from analysis import factorial, figures, mixed, pipeline
from analysis.loading import LIKERT_LEVELS, STATEMENTS, InputError, order_models
from analysis.stats import DEFAULT_ZERO_METHOD, model_pairs
from saliency.files import json_ready
from studyapp import randomization
from analysis.simulation import TaskBlock, simulate_tasks, task_arms
from analysis.tasks import GLMM_NAME
from studyapp import simulation
from studyapp.schema import FACTORIAL_POWER_COLUMNS, NO_MAP_CONDITION, POWER_COLUMNS, SIMULATION, condition_name
from studyapp.simulation import likert_answers, parse_model_values

# test -> (report table, the p-value that decides, what it compares, title); Holm is over one study's model pairs.
TESTS = {
    "mixed": ("mixed", "p_holm", "pairs", "Mixed model (Holm)"),
    "participant_wilcoxon": ("wilcoxon_participants", "p_holm", "pairs", "Participant-level Wilcoxon (Holm)"),
    "participant_friedman": ("friedman", "p", "all", "Participant-level Friedman"),
    "pooled_wilcoxon": ("wilcoxon_ratings", "p_holm", "pairs", "Pooled Wilcoxon (Holm)"),
    "pooled_anova": ("anova", "p", "all", "Pooled one-way ANOVA"),
}
# Two factors: the tests per factor (report table, the p-value that decides, title). A factor's main effect is
# detected by the mixed model when any of its Holm-adjusted level pairs is (a level-alpha test of "no differences
# between the levels"), by Friedman when its test is.
FACTOR_TESTS = {
    "mixed": ("factorial_contrasts", "p_holm", "Mixed model, model x method (Holm within factor)"),
    "friedman": ("friedman_factors", "p", "Participant-level Friedman per factor"),
}
# Task blocks (a TaskDesign): the tests of each explanation condition against its model's no-map control, per
# comparison (report table, the p-value that decides, title); Holm is over one study's comparisons. The condition
# model runs with --mixed.
TASK_TESTS = {
    "utility_mannwhitney": ("task_utility", "p_mannwhitney_holm", "Utility: Mann-Whitney U (Holm)"),
    "utility_welch": ("task_utility", "p_welch_holm", "Utility: Welch's t (Holm)"),
    "condition_model": ("task_condition_model", "p", f"Condition model ({GLMM_NAME})"),
}
MAIN_EFFECT = "main effect"
TARGET_POWER = 0.8
FRAMES_PER_TASK = 5


def name_problems(names, what):
    return [f"an empty {what} name"] if any(not str(n).strip() for n in names) else []


def mean_problems(named_means):
    """Means (name -> value) outside the answers."""
    outside = [f"{name}={value}" for name, value in named_means if not LIKERT_LEVELS[0] <= value <= LIKERT_LEVELS[-1]]
    return [f"mean rating(s) {', '.join(outside)} outside the answers {LIKERT_LEVELS[0]}-{LIKERT_LEVELS[-1]}"] \
        if outside else []


def spread_problems(design):
    """What is wrong with a design's residual, participant and image SDs and its number of images."""
    problems = []
    if not design.sd > 0:
        problems.append(f"the residual SD must be > 0, got {design.sd}")
    for name, value in (("participant SD", design.participant_sd), ("image SD", design.image_sd)):
        if not value >= 0:
            problems.append(f"the {name} must be >= 0, got {value}")
    if design.images < 2:
        problems.append(f"a study needs at least 2 images per participant, got {design.images}")
    return problems


def refuse(problems):
    if problems:
        raise InputError("; ".join(problems) + ".")


@dataclass(frozen=True)
class Design:
    """What a planned study looks like: mean rating per model (the first is the reference) and the spreads.

    Models are the built-in codes (N, A, M1, M2, G) or any other name, as in a study of imported maps."""

    means: dict
    sd: float
    participant_sd: float
    image_sd: float
    images: int

    def __post_init__(self):
        problems = []
        if len(self.means) < 2:
            problems.append(f"the means name {len(self.means)} model(s); give at least two, e.g. N=2.08,A=2.99")
        refuse(problems + name_problems(self.means, "model") + mean_problems(self.means.items())
               + spread_problems(self))

    @property
    def models(self):
        return list(self.means)

    @property
    def ratings_per_participant(self):
        return self.images * len(self.means)


@dataclass(frozen=True)
class FactorialDesign:
    """A model x method study: mean rating per cell ({model: {method: mean}}, the first model and method the
    references), the spreads, and `views_per_image`, how many cells a participant sees each image under (None:
    every cell; fewer: the study's balanced incomplete design, studyapp.randomization)."""

    cell_means: dict
    sd: float
    participant_sd: float
    image_sd: float
    images: int
    views_per_image: int | None = None

    def __post_init__(self):
        problems = []
        models = list(self.cell_means)
        methods = list(next(iter(self.cell_means.values()), {}))
        if len(models) < 2 or len(methods) < 2:
            problems.append(f"a model x method plan needs at least two models and two methods, got "
                            f"{len(models)} model(s) and {len(methods)} method(s); plan a one-factor study with "
                            f"--means alone")
        uneven = [m for m, row in self.cell_means.items() if list(row) != methods]
        if uneven:
            problems.append(f"model(s) {', '.join(uneven)} do not have a mean for each method "
                            f"{', '.join(methods)} (in that order)")
        cells = len(models) * len(methods)
        if self.views_per_image is not None and not 1 <= self.views_per_image <= cells:
            problems.append(f"--views-per-image must be between 1 and the {cells} cells, got {self.views_per_image}")
        refuse(problems + name_problems(models, "model") + name_problems(methods, "method")
               + mean_problems((condition_name(m, k), v)
                               for m, row in self.cell_means.items() for k, v in row.items())
               + spread_problems(self))

    @property
    def levels(self):
        """Each factor's levels, in the given order (the first the reference)."""
        return {"model": list(self.cell_means), "method": list(next(iter(self.cell_means.values())))}

    @property
    def views(self):
        cells = len(self.cell_means) * len(self.levels["method"])
        return cells if self.views_per_image is None else self.views_per_image

    @property
    def ratings_per_participant(self):
        return self.images * self.views


@dataclass(frozen=True)
class TaskDesign:
    """A planned block of questions with a right answer, its conditions between participants (issue 29):
    `accuracy`, condition name (`none` or MODEL×none for a control, MODEL×METHOD) -> the chance that a typical
    participant answers a typical image right; the scored pages per participant; the participants' and images'
    spreads (SDs of their random intercepts on the logit scale); the image pool (default: every participant sees
    the same `pages` images). Participant k gets the k-th condition in turn, as enrolment assigns them."""

    accuracy: dict
    pages: int
    participant_sd: float
    image_sd: float
    images: int | None = None

    def __post_init__(self):
        problems = []
        try:
            arms = task_arms(list(self.accuracy))
        except ValueError as error:
            refuse([f"--task-accuracy: {error}".rstrip(".")])
        outside = [f"{name}={value}" for name, value in self.accuracy.items() if not 0 < value < 1]
        if outside:
            problems.append(f"--task-accuracy: accuracies {', '.join(outside)} are not between 0 and 1 (exclusive)")
        controlled = {arm.model for arm in arms if arm.condition == NO_MAP_CONDITION}
        if not any(arm.condition != NO_MAP_CONDITION and arm.model in controlled for arm in arms):
            problems.append(f"--task-accuracy: no explanation condition has a {NO_MAP_CONDITION} control of its model "
                            f"to be compared with; give e.g. {NO_MAP_CONDITION}=0.55,N×VG=0.7")
        if self.pages < 2:
            problems.append(f"--task-pages: a block needs at least 2 scored pages per participant, got {self.pages}")
        for name, value in (("--task-participant-sd", self.participant_sd), ("--task-image-sd", self.image_sd)):
            if not value >= 0:
                problems.append(f"{name} must be >= 0, got {value}")
        if self.images is not None and self.images < self.pages:
            problems.append(f"--task-images: {self.images} images cannot fill {self.pages} pages per participant "
                            "without showing one twice")
        refuse(problems)

    @property
    def arms(self):
        return task_arms(list(self.accuracy))

    @property
    def comparisons(self):
        """Each explanation condition with a control of its model, as power.csv names it: `N×VG-none`."""
        controlled = {arm.model for arm in self.arms if arm.condition == NO_MAP_CONDITION}
        return [f"{arm.condition}-{NO_MAP_CONDITION}" for arm in self.arms
                if arm.condition != NO_MAP_CONDITION and arm.model in controlled]

    def participants_per_condition(self, participants):
        """{condition name as given: participants} of the first `participants` enrolled (assigned in turn)."""
        return {name: len(range(i, participants, len(self.accuracy))) for i, name in enumerate(self.accuracy)}


def parse_means(text, option="--means", what="model"):
    """`N=2.08,A=2.99,M2=3.33` -> {"N": 2.08, "A": 2.99, "M2": 3.33}, in the given order (InputError if not)."""
    try:
        return parse_model_values(text, option, what)
    except ValueError as error:
        raise InputError(str(error)) from None


def split_cell(name, option):
    """`M2×IG` (the report's cell name) or `M2:IG` -> ("M2", "IG") (studyapp.simulation reads cells for both)."""
    try:
        return simulation.split_cell(name, option)
    except ValueError as error:
        raise InputError(str(error)) from None


def factorial_design(methods, *, means=None, method_effects=None, cell_means=None, **spreads):
    """The FactorialDesign of `methods` (their order; the first the reference) and the effect sizes, given per
    factor (additive: `means`, model -> mean rating, plus `method_effects`, method -> the amount added to every
    model's mean) or per cell (`cell_means`: "MODEL×METHOD" or "MODEL:METHOD" -> mean, every cell once).
    InputError, naming the flags, for anything else."""
    methods = list(methods)
    problems = []
    if len(methods) < 2:
        problems.append(f"--methods names {len(methods)} method(s); a model x method plan needs at least two "
                        f"(for one method, leave --methods out)")
    if len(set(methods)) < len(methods):
        problems.append(f"--methods names a method twice: {' '.join(methods)}")
    if problems:
        refuse(problems)
    if cell_means is not None:
        if means is not None or method_effects is not None:
            refuse(["give the effects per cell (--cell-means) or per factor (--means with --method-effects), "
                    "not both"])
        table = {}
        for name, value in cell_means.items():
            model, method = split_cell(name, "--cell-means")
            if method not in methods:
                problems.append(f"--cell-means: cell {name} has method {method}, not one of --methods "
                                f"{' '.join(methods)}")
            elif method in table.setdefault(model, {}):
                problems.append(f"--cell-means: cell {model}×{method} is given twice")
            table.setdefault(model, {})[method] = value
        missing = [f"{m}×{k}" for m in table for k in methods if k not in table[m]]
        if missing:
            problems.append(f"--cell-means lacks cell(s) {', '.join(missing)}: give every model x method cell")
        refuse(problems)
        return FactorialDesign({m: {k: table[m][k] for k in methods} for m in table}, **spreads)
    if means is None or method_effects is None:
        refuse(["a model x method plan needs its effects: --means (per model) with --method-effects (per method), "
                "or --cell-means (per cell)"])
    if list(method_effects) != methods:
        refuse([f"--method-effects must name the methods of --methods, in its order ({', '.join(methods)}); "
                f"got {', '.join(method_effects) or 'none'}"])
    # rounded: 3.2 + 0.2 is 3.4000000000000004 in floating point, and power.json shows the cells
    return FactorialDesign({m: {k: round(mean + method_effects[k], 12) for k in methods} for m, mean in means.items()},
                           **spreads)


def pilot_problems(ratings):
    """What keeps a pilot's ratings from showing how ratings vary between participants and between images."""
    return [f"--from-export: the pilot's ratings come from {n} {unit}(s); estimating how ratings vary between "
            f"{unit}s needs at least 2" for unit in ("participant", "image") if (n := ratings[unit].nunique()) < 2]


def pilot_spreads(components, ratings):
    """A design's spreads and number of images, as a pilot's fitted variance components and ratings show them."""
    return {"sd": math.sqrt(components["residual_variance"]),
            "participant_sd": math.sqrt(components["participant_variance"]),
            "image_sd": math.sqrt(components["image_variance"]), "images": ratings["image"].nunique()}


def design_from_ratings(ratings, statement, models=None, seed=0):
    """The design a pilot's ratings show, and the fit it came from (log-likelihood, convergence, warnings).

    The crossed mixed model (analysis.mixed, as `analyze` fits it) gives the residual, participant and
    image variances; the means are its fixed effects (the raw means where everyone rated everything).
    """
    present = order_models(ratings["model"].astype(str).unique())
    models = models or present
    absent = [m for m in models if m not in present]
    if absent:
        raise InputError(f"--from-export: the pilot has no ratings of model(s) {', '.join(absent)}; "
                         f"it rated {', '.join(present)}.")
    ratings = ratings[ratings["model"].isin(models)]
    refuse(pilot_problems(ratings))
    result, messages = mixed.fit_mixed(mixed.participant_subsample(ratings, mixed.MAX_PARTICIPANTS, seed), models,
                                       statement)
    components = mixed.variance_components(result)
    effects = result.fe_params
    means = {m: float(effects["Intercept"] + (effects[f"model[T.{m}]"] if i else 0.0)) for i, m in enumerate(models)}
    design = Design(means=means, **pilot_spreads(components, ratings))
    return design, {"converged": bool(result.converged), "fit_warnings": messages, **components}


def factorial_design_from_ratings(ratings, statement, methods, views_per_image=None, seed=0):
    """The model x method design a pilot's ratings show, and the fit it came from, as design_from_ratings does
    for one factor: the two-factor crossed mixed model (analysis.factorial, as `analyze` fits it) gives the
    residual, participant and image variances, and each cell's mean from its fixed effects. `views_per_image`
    (None: as the pilot did, the most cells a pilot participant saw one image under)."""
    present = list(dict.fromkeys(ratings["method"].astype(str)))
    absent = [m for m in methods if m not in present]
    if absent:
        refuse([f"--from-export: the pilot has no ratings under method(s) {', '.join(absent)}; it rated "
                f"{', '.join(present)}. Plan a model x method study from a pilot of those methods, or give the "
                f"design as flags"])
    ratings = ratings[ratings["method"].astype(str).isin(methods)]
    ratings = ratings.assign(variant=ratings["model"].astype(str))  # analysis.factorial's name for the model
    levels = {"model": order_models(ratings["variant"].unique()), "method": list(methods)}
    refuse(pilot_problems(ratings))
    result, messages = factorial.fit_factorial(mixed.participant_subsample(ratings, mixed.MAX_PARTICIPANTS, seed),
                                               levels, statement)
    names, effects = list(result.fe_params.index), result.fe_params.to_numpy()
    cell_means = {model: {method: float(factorial.cell_weights(names, levels, model, method) @ effects)
                          for method in methods} for model in levels["model"]}
    components = mixed.variance_components(result)
    views = views_per_image or int(ratings.groupby(["participant", "image"], observed=True).size().max())
    design = FactorialDesign(cell_means, **pilot_spreads(components, ratings), views_per_image=views)
    return design, {"converged": bool(result.converged), "fit_warnings": messages, **components}


def simulate_ratings(design, participants, rng):
    """Ratings of a whole study, both statement columns independent draws of the design (two studies in one frame).

    The report's tests run on both statements, each on its own, so one frame holds two simulated studies
    for the price of one pass. Rows run participant by participant: the first n participants' rows are a
    study of n (the sizes share their draws, which keeps the power curve from jittering between sizes).
    """
    models = design.models
    per_participant = design.images * len(models)
    person = np.repeat(np.arange(participants), per_participant)
    image = np.tile(np.repeat(np.arange(design.images), len(models)), participants)
    model = np.tile(np.arange(len(models)), participants * design.images)
    mean = np.array([design.means[m] for m in models])[model]
    return draw_answers(design, mean, person, image, rng, {"model": pd.Categorical.from_codes(model, models)})


def draw_answers(design, mean, person, image, rng, conditions):
    """A simulated study's frame: participant, image, the `conditions` columns, then each statement's answers, a
    latent score (`mean` per rating + the participant's and the image's random intercept + noise) as 1-5."""
    participants = int(person.max()) + 1
    columns = {}
    for statement in STATEMENTS:
        latent = (mean + rng.normal(0, design.participant_sd, participants)[person]
                  + rng.normal(0, design.image_sd, design.images)[image]
                  + rng.normal(0, design.sd, len(person)))
        columns[statement] = likert_answers(latent)
    return pd.DataFrame({
        "participant": pd.Categorical.from_codes(person, [f"P{i + 1:06d}" for i in range(participants)]),
        "image": pd.Categorical.from_codes(image, [f"img-{i + 1:04d}" for i in range(design.images)]),
        **conditions,
        **columns,
    })


def factorial_layout(design, participants, seed):
    """Codes (participant, image, model, method) of every rating of the first `participants` enrolled
    participants of a model x method study, participant by participant: the cells studyapp.randomization gives
    participant k (enrolment index k, the plan's seed as the study's), as the study will."""
    levels = design.levels
    model_code = {m: i for i, m in enumerate(levels["model"])}
    method_code = {k: i for i, k in enumerate(levels["method"])}
    stimuli = [randomization.StimulusRef(stimulus, image, model, method) for stimulus, (image, model, method)
               in enumerate(itertools.product(range(design.images), levels["model"], levels["method"]))]
    rows = []
    for index in range(participants):
        placed = randomization.Design(views_per_image=design.views_per_image, study_seed=seed, index=index)
        rows += [(index, ref.source_image, model_code[ref.variant], method_code[ref.method])
                 for ref in randomization.rated_stimuli(stimuli, placed)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def simulate_factorial_ratings(design, layout, rng):
    """Ratings of a whole model x method study laid out as `layout` (factorial_layout), both statements
    independent draws (as simulate_ratings): `variant` and `method` the factors, `model` the cell's name."""
    person, image, model, method = layout.T
    levels = design.levels
    mean = np.array([[design.cell_means[m][k] for k in levels["method"]] for m in levels["model"]])[model, method]
    cells = [condition_name(m, k) for m in levels["model"] for k in levels["method"]]
    return draw_answers(design, mean, person, image, rng, {
        "model": pd.Categorical.from_codes(model * len(levels["method"]) + method, cells),
        "variant": pd.Categorical.from_codes(model, levels["model"]),
        "method": pd.Categorical.from_codes(method, levels["method"]),
    })


def layout_balance(design, sizes, seed):
    """Per sample size, how many participants rate each image x cell (min and max) and ratings per participant:
    the design's balance as simulated (the study's balance report counts the same)."""
    layout = factorial_layout(design, max(sizes), seed)
    cells = len(design.levels["model"]) * len(design.levels["method"])
    balance = {}
    for n in sizes:
        rows = layout[layout[:, 0] < n]
        counts = np.bincount((rows[:, 1] * len(design.levels["model"]) + rows[:, 2]) * len(design.levels["method"])
                             + rows[:, 3], minlength=design.images * cells)
        balance[n] = {"ratings_per_participant": design.ratings_per_participant,
                      "participants_per_image_and_cell_min": int(counts.min()),
                      "participants_per_image_and_cell_max": int(counts.max())}
    return balance


def first_participants(ratings, design, participants):
    """The study of the first `participants` of a simulated frame."""
    study = ratings.iloc[:participants * design.ratings_per_participant].copy()
    study["participant"] = study["participant"].cat.remove_unused_categories()
    return study


def decisions(tables, models, alpha):
    """(test, comparison, statement, significant) for every test of one simulated study."""
    found = []
    for test, (table, column, compares, _) in TESTS.items():
        if table not in tables or (test == "participant_friedman" and len(models) < 3):
            continue  # analyze runs no mixed model with --no-mixed, and no Friedman test on two models
        rows = tables[table]
        comparisons = rows["model_a"] + "-" + rows["model_b"] if compares == "pairs" else ["all"] * len(rows)
        found += zip([test] * len(rows), comparisons, rows["statement"], (rows[column] < alpha).tolist())
    return found


def factor_decisions(tables, alpha):
    """(test, factor, comparison, statement, significant) for every two-factor test of one simulated study: per
    factor its main effect (mixed: any Holm-adjusted level pair significant; Friedman, with 3 or more levels),
    and each level pair (mixed, Holm within factor and statement)."""
    found = []
    table, column, _ = FACTOR_TESTS["mixed"]
    for (factor, statement), family in tables[table].groupby(["factor", "statement"], sort=False):
        significant = (family[column] < alpha).tolist()
        found.append(("mixed", factor, MAIN_EFFECT, statement, any(significant)))
        found += [("mixed", factor, f"{a}-{b}", statement, s)
                  for a, b, s in zip(family["level_a"], family["level_b"], significant)]
    table, column, _ = FACTOR_TESTS["friedman"]
    for row in tables[table].to_dict("records"):
        if row["k"] >= 3:  # too few participants with every level: not significant (p is NaN)
            found.append(("friedman", row["factor"], MAIN_EFFECT, row["statement"], bool(row[column] < alpha)))
    return found


def task_decisions(tables, alpha):
    """(test, comparison, significant) for every task test of one simulated study."""
    found = []
    for test, (table, column, _) in TASK_TESTS.items():
        if table not in tables:
            continue  # the condition model runs only with --mixed
        rows = tables[table]
        comparisons = rows["condition"] + "-" + NO_MAP_CONDITION
        found += zip([test] * len(rows), comparisons, (rows[column] < alpha).tolist())
    return found


def simulate_task_frames(design, sizes, options, seed, frames):
    """Significance records (test, comparison, participants, simulation, significant) of the given frames: each
    frame a whole simulated study of max(sizes) participants (analysis.simulation.simulate_tasks, seeded by
    [seed, frame]), analysed for its first n participants at each size n by pipeline.task_tests."""
    records = []
    block = (TaskBlock(SIMULATION, design.pages),)
    for frame in frames:
        answers, _ = simulate_tasks(max(sizes), design.accuracy, block, participant_sd=design.participant_sd,
                                    image_sd=design.image_sd, images=design.images, seed=[seed, frame])
        answers["n_options"] = block[0].options
        names = sorted(answers["participant"].unique())
        for participants in sizes:
            study = answers[answers["participant"].isin(names[:participants])]
            for key in task_decisions(pipeline.task_tests(study, options), options.alpha):
                records.append((*key[:2], participants, frame, key[2]))
    return records


def key_columns(design):
    """What a power is of: test and comparison (one factor), with the factor (two factors)."""
    columns = FACTORIAL_POWER_COLUMNS if isinstance(design, FactorialDesign) else POWER_COLUMNS
    return list(columns[:columns.index("participants")])


def simulate_frames(design, sizes, options, seed, frames):
    """Significance records (key_columns..., participants, simulation, significant) of the given frames."""
    two_factors = isinstance(design, FactorialDesign)
    layout = factorial_layout(design, max(sizes), seed) if two_factors else None
    records = []
    for frame in frames:
        rng = np.random.default_rng([seed, frame])
        ratings = (simulate_factorial_ratings(design, layout, rng) if two_factors
                   else simulate_ratings(design, max(sizes), rng))
        for participants in sizes:
            study = first_participants(ratings, design, participants)
            if two_factors:
                found = factor_decisions(pipeline.factor_tests(study, design.levels, options), options.alpha)
            else:
                found = decisions(pipeline.model_tests(study, design.models, options)[1], design.models, options.alpha)
            for *key, statement, significant in found:
                records.append((*key, participants, 2 * frame + STATEMENTS.index(statement), significant))
    return records


def simulate_power(design, sizes, simulations, alpha=0.05, seed=0, zero_method=DEFAULT_ZERO_METHOD, mixed_model=False,
                   jobs=1, progress=False):
    """Every simulated study's decisions: one row per test, comparison (and factor), sample size and simulation.

    Simulation s is statement s % 2 of frame s // 2, drawn from numpy default_rng([seed, frame]): the
    same seed gives the same numbers for any number of `jobs`. A model x method design always fits the
    two-factor mixed model (its primary test); `zero_method` and `mixed_model` concern one-factor designs.
    """
    two_factors = isinstance(design, FactorialDesign)
    task_blocks = isinstance(design, TaskDesign)
    options = pipeline.Options(models=None if two_factors or task_blocks else design.models, alpha=alpha,
                               zero_method=zero_method, mixed_model=mixed_model or two_factors, seed=seed)
    per_frame = 1 if task_blocks else len(STATEMENTS)  # a task study answers one outcome; a rating study two
    frames = list(range(math.ceil(simulations / per_frame)))
    tasks = [frames[i:i + FRAMES_PER_TASK] for i in range(0, len(frames), FRAMES_PER_TASK)]
    run = partial(simulate_task_frames if task_blocks else simulate_frames, design, sizes, options, seed)
    pool = None
    if jobs > 1:
        start = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(start))
    records = []
    try:
        with tqdm(total=simulations, unit="simulation", disable=None if progress else True) as bar:
            for task, found in zip(tasks, pool.map(run, tasks) if pool else map(run, tasks)):
                records.extend(found)
                bar.update(min(per_frame * len(task), simulations - bar.n))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    table = pd.DataFrame(records, columns=[*key_columns(design), "participants", "simulation", "significant"])
    return table[table["simulation"] < simulations].reset_index(drop=True)


def comparison_order(design):
    """The report's order of what a power is of: {column: [values in order]}."""
    if isinstance(design, FactorialDesign):
        levels = design.levels
        return {"factor": list(factorial.FACTORS), "test": list(FACTOR_TESTS),
                "comparison": [MAIN_EFFECT] + [f"{a}-{b}" for factor in factorial.FACTORS
                                               for a, b in itertools.combinations(levels[factor], 2)]}
    if isinstance(design, TaskDesign):
        return {"test": list(TASK_TESTS), "comparison": design.comparisons}
    return {"test": list(TESTS), "comparison": ["all"] + [f"{a}-{b}" for a, b in model_pairs(design.models)]}


def power_table(decided, design):
    """key_columns, participants, power, simulations: the share significant, in the report's order."""
    keys = key_columns(design)
    table = (decided.groupby([*keys, "participants"], sort=False)["significant"]
             .agg(power="mean", simulations="size").reset_index())
    order = pd.DataFrame({column: table[column].map(values.index)
                          for column, values in comparison_order(design).items()})
    order["participants"] = table["participants"]
    return table.loc[order.sort_values(list(order.columns)).index].reset_index(drop=True)


def monte_carlo_error(power, simulations):
    """Standard error of a power estimated as the share of `simulations` independent studies."""
    return np.sqrt(power * (1 - power) / simulations)


def smallest_sizes(table):
    """test -> (factor ->) comparison -> the smallest simulated sample size with power >= 80%, or None."""
    keys = [c for c in FACTORIAL_POWER_COLUMNS[:FACTORIAL_POWER_COLUMNS.index("participants")] if c in table]
    sizes = {}
    for key, curve in table.groupby(keys, sort=False):
        reached = curve.loc[curve["power"] >= TARGET_POWER, "participants"]
        place = sizes
        for part in key[:-1]:
            place = place.setdefault(part, {})
        place[key[-1]] = int(reached.min()) if len(reached) else None
    return sizes


def answer_line(what, tests, found, largest):
    """`what`: the smallest sample size with >= 80% power: per test in `tests` found -> size (None: not reached)."""
    return (f"{what}: smallest sample size with >= {TARGET_POWER:.0%} power: "
            + ", ".join(f"{test} {found[test]}" if found[test] is not None else f"{test} not within {largest}"
                        for test in tests if test in found))


def answers(table, design):
    """One line per model pair (two factors: per factor, its main effect and each level pair): the smallest
    sample size that reaches 80% power, per test."""
    sizes = smallest_sizes(table)
    largest = int(table["participants"].max())
    if isinstance(design, FactorialDesign):
        lines = []
        for factor in factorial.FACTORS:
            pairs = [f"{a}-{b}" for a, b in itertools.combinations(design.levels[factor], 2)]
            for comparison in [MAIN_EFFECT, *pairs]:
                found = {test: sizes[test][factor][comparison] for test in FACTOR_TESTS
                         if comparison in sizes.get(test, {}).get(factor, {})}
                lines.append(answer_line(f"{factor} {comparison}", FACTOR_TESTS, found, largest))
        return lines
    if isinstance(design, TaskDesign):
        return [answer_line(comparison, TASK_TESTS, {test: sizes[test][comparison] for test in TASK_TESTS
                                                     if comparison in sizes.get(test, {})}, largest)
                for comparison in design.comparisons]
    return [answer_line(pair, TESTS, {test: sizes[test][pair] for test in TESTS if pair in sizes.get(test, {})},
                        largest)
            for pair in (f"{first}-{second}" for first, second in model_pairs(design.models))]


def default_jobs():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def summary(design, table, sizes, simulations, alpha, seed, zero_method, mixed_model, source):
    """Everything power.json holds: the design and where it came from, the settings, power with its error (two
    factors: also the factors' levels and the simulated design's balance per sample size)."""
    rows = table.assign(monte_carlo_se=monte_carlo_error(table["power"], table["simulations"]))
    plan = {"design": asdict(design), "design_source": source, "participants": list(sizes),
            "simulations": simulations, "alpha": alpha, "seed": seed, "zero_method": zero_method,
            "mixed_model": mixed_model, "target_power": TARGET_POWER,
            "power": rows.to_dict("records"), "smallest_participants": smallest_sizes(table),
            "answers": answers(table, design)}
    if isinstance(design, FactorialDesign):
        plan |= {"mixed_model": True, "zero_method": None, "factors": design.levels,
                 "balance": layout_balance(design, sizes, seed)}
    if isinstance(design, TaskDesign):  # participants are all conditions', assigned in turn
        plan |= {"zero_method": None, "participants_per_condition": {
            n: design.participants_per_condition(n) for n in sizes}}
    return plan


def write_outputs(folder, table, plan):
    """power.csv, power.json (`plan`: summary()), power.png and answers.txt."""
    two_factors = "factor" in table
    table.to_csv(folder / "power.csv", index=False,
                 columns=list(FACTORIAL_POWER_COLUMNS if two_factors else POWER_COLUMNS))
    (folder / "power.json").write_text(json.dumps(json_ready(plan), indent=2, allow_nan=False),
                                       encoding="utf-8")
    if two_factors:  # one panel per test, one line per factor's main effect or level pair
        titles = {test: title for test, (*_, title) in FACTOR_TESTS.items()}
        table = table.assign(comparison=table["factor"] + " " + table["comparison"])
    else:  # a rating plan's tests or a task plan's
        titles = {test: title for test, (*_, title) in (TESTS | TASK_TESTS).items()}
    (folder / "power.png").write_bytes(figures.power_figure(table, titles, TARGET_POWER))
    (folder / "answers.txt").write_text("\n".join(plan["answers"]) + "\n", encoding="utf-8")
