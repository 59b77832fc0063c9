"""Power by simulation: whole studies of a planned design, each analysed by the report's own tests.

A simulated study has every participant rate every image under every model; a rating is the model's
mean plus the participant's and the image's random intercept plus residual noise, rounded and clipped
to 1-5 (as `simulate_participants` answers). pipeline.model_tests, the tests `manage.py analyze` runs,
decides on each, so a planned power is the power of the report such a study would get.
"""

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

from analysis import figures, mixed, pipeline
from analysis.loading import LIKERT_LEVELS, MODEL_ORDER, STATEMENTS, InputError, order_models
from analysis.stats import DEFAULT_ZERO_METHOD, model_pairs
from saliency.files import json_ready
from studyapp.simulation import likert_answers, parse_model_values

# test -> (report table, the p-value that decides, what it compares, title); Holm is over one study's model pairs.
TESTS = {
    "mixed": ("mixed", "p_holm", "pairs", "Mixed model (Holm)"),
    "participant_wilcoxon": ("wilcoxon_participants", "p_holm", "pairs", "Participant-level Wilcoxon (Holm)"),
    "participant_friedman": ("friedman", "p", "all", "Participant-level Friedman"),
    "pooled_wilcoxon": ("wilcoxon_ratings", "p_holm", "pairs", "Pooled Wilcoxon (Holm)"),
    "pooled_anova": ("anova", "p", "all", "Pooled one-way ANOVA"),
}
TARGET_POWER = 0.8
FRAMES_PER_TASK = 5


@dataclass(frozen=True)
class Design:
    """What a planned study looks like: mean rating per model (the first is the reference) and the spreads."""

    means: dict
    sd: float
    participant_sd: float
    image_sd: float
    images: int

    def __post_init__(self):
        problems = []
        if len(self.means) < 2:
            problems.append(f"the means name {len(self.means)} model(s); give at least two, e.g. N=2.08,A=2.99")
        unknown = [m for m in self.means if m not in MODEL_ORDER]
        if unknown:
            problems.append(f"unknown model code(s) {', '.join(unknown)}; the codes are {', '.join(MODEL_ORDER)}")
        outside = [f"{m}={v}" for m, v in self.means.items() if not LIKERT_LEVELS[0] <= v <= LIKERT_LEVELS[-1]]
        if outside:
            problems.append(f"mean rating(s) {', '.join(outside)} outside the answers "
                            f"{LIKERT_LEVELS[0]}-{LIKERT_LEVELS[-1]}")
        if not self.sd > 0:
            problems.append(f"the residual SD must be > 0, got {self.sd}")
        for name, value in (("participant SD", self.participant_sd), ("image SD", self.image_sd)):
            if not value >= 0:
                problems.append(f"the {name} must be >= 0, got {value}")
        if self.images < 2:
            problems.append(f"a study needs at least 2 images per participant, got {self.images}")
        if problems:
            raise InputError("; ".join(problems) + ".")

    @property
    def models(self):
        return list(self.means)


def parse_means(text):
    """`N=2.08,A=2.99,M2=3.33` -> {"N": 2.08, "A": 2.99, "M2": 3.33}, in the given order (InputError if not)."""
    try:
        return parse_model_values(text, "--means")
    except ValueError as error:
        raise InputError(str(error)) from None


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
    for unit in ("participant", "image"):
        if ratings[unit].nunique() < 2:
            raise InputError(f"--from-export: the pilot's ratings come from {ratings[unit].nunique()} {unit}(s); "
                             f"estimating how ratings vary between {unit}s needs at least 2.")
    result, messages = mixed.fit_mixed(mixed.participant_subsample(ratings, mixed.MAX_PARTICIPANTS, seed), models,
                                       statement)
    components = mixed.variance_components(result)
    effects = result.fe_params
    means = {m: float(effects["Intercept"] + (effects[f"model[T.{m}]"] if i else 0.0)) for i, m in enumerate(models)}
    design = Design(means=means, sd=math.sqrt(components["residual_variance"]),
                    participant_sd=math.sqrt(components["participant_variance"]),
                    image_sd=math.sqrt(components["image_variance"]), images=ratings["image"].nunique())
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
    columns = {}
    for statement in STATEMENTS:
        latent = (mean + rng.normal(0, design.participant_sd, participants)[person]
                  + rng.normal(0, design.image_sd, design.images)[image]
                  + rng.normal(0, design.sd, len(person)))
        columns[statement] = likert_answers(latent)
    return pd.DataFrame({
        "participant": pd.Categorical.from_codes(person, [f"P{i + 1:06d}" for i in range(participants)]),
        "image": pd.Categorical.from_codes(image, [f"img-{i + 1:04d}" for i in range(design.images)]),
        "model": pd.Categorical.from_codes(model, models),
        **columns,
    })


def first_participants(ratings, design, participants):
    """The study of the first `participants` of a simulated frame."""
    study = ratings.iloc[:participants * design.images * len(design.models)].copy()
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


def simulate_frames(design, sizes, options, seed, frames):
    """Significance records (test, comparison, participants, simulation, significant) of the given frames."""
    records = []
    for frame in frames:
        ratings = simulate_ratings(design, max(sizes), np.random.default_rng([seed, frame]))
        for participants in sizes:
            _, tables = pipeline.model_tests(first_participants(ratings, design, participants), design.models, options)
            for test, comparison, statement, significant in decisions(tables, design.models, options.alpha):
                records.append((test, comparison, participants, 2 * frame + STATEMENTS.index(statement), significant))
    return records


def simulate_power(design, sizes, simulations, alpha=0.05, seed=0, zero_method=DEFAULT_ZERO_METHOD, mixed_model=False,
                   jobs=1, progress=False):
    """Every simulated study's decisions: one row per test, comparison, sample size and simulation.

    Simulation s is statement s % 2 of frame s // 2, drawn from numpy default_rng([seed, frame]): the
    same seed gives the same numbers for any number of `jobs`.
    """
    options = pipeline.Options(models=design.models, alpha=alpha, zero_method=zero_method, mixed_model=mixed_model,
                             seed=seed)
    frames = list(range(math.ceil(simulations / 2)))
    tasks = [frames[i:i + FRAMES_PER_TASK] for i in range(0, len(frames), FRAMES_PER_TASK)]
    run = partial(simulate_frames, design, sizes, options, seed)
    pool = None
    if jobs > 1:
        start = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(start))
    records = []
    try:
        with tqdm(total=simulations, unit="simulation", disable=None if progress else True) as bar:
            for task, found in zip(tasks, pool.map(run, tasks) if pool else map(run, tasks)):
                records.extend(found)
                bar.update(min(2 * len(task), simulations - bar.n))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    table = pd.DataFrame(records, columns=["test", "comparison", "participants", "simulation", "significant"])
    return table[table["simulation"] < simulations].reset_index(drop=True)


def power_table(decided, design):
    """test, comparison, participants, power, simulations: the share significant, in the report's order."""
    table = (decided.groupby(["test", "comparison", "participants"], sort=False)["significant"]
             .agg(power="mean", simulations="size").reset_index())
    comparisons = ["all"] + [f"{a}-{b}" for a, b in model_pairs(design.models)]
    order = pd.DataFrame({"test": table["test"].map(list(TESTS).index),
                          "comparison": table["comparison"].map(comparisons.index),
                          "participants": table["participants"]})
    return table.loc[order.sort_values(list(order.columns)).index].reset_index(drop=True)


def monte_carlo_error(power, simulations):
    """Standard error of a power estimated as the share of `simulations` independent studies."""
    return np.sqrt(power * (1 - power) / simulations)


def smallest_sizes(table):
    """test -> comparison -> the smallest simulated sample size with power >= 80%, or None."""
    sizes = {}
    for (test, comparison), curve in table.groupby(["test", "comparison"], sort=False):
        reached = curve.loc[curve["power"] >= TARGET_POWER, "participants"]
        sizes.setdefault(test, {})[comparison] = int(reached.min()) if len(reached) else None
    return sizes


def answers(table, design):
    """One line per model pair: the smallest sample size that reaches 80% power, per test."""
    sizes = smallest_sizes(table)
    largest = int(table["participants"].max())
    lines = []
    for first, second in model_pairs(design.models):
        pair = f"{first}-{second}"
        found = [f"{test} {sizes[test][pair]}" if sizes[test][pair] is not None else f"{test} not within {largest}"
                 for test in TESTS if pair in sizes.get(test, {})]
        lines.append(f"{pair}: smallest sample size with >= {TARGET_POWER:.0%} power: " + ", ".join(found))
    return lines


def default_jobs():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def summary(design, table, sizes, simulations, alpha, seed, zero_method, mixed_model, source):
    """Everything power.json holds: the design and where it came from, the settings, power with its error."""
    rows = table.assign(monte_carlo_se=monte_carlo_error(table["power"], table["simulations"]))
    return {"design": asdict(design), "design_source": source, "participants": list(sizes),
            "simulations": simulations, "alpha": alpha, "seed": seed, "zero_method": zero_method,
            "mixed_model": mixed_model, "target_power": TARGET_POWER,
            "power": rows.to_dict("records"), "smallest_participants": smallest_sizes(table),
            "answers": answers(table, design)}


def write_outputs(folder, table, plan):
    """power.csv, power.json (`plan`: summary()), power.png and answers.txt."""
    table.to_csv(folder / "power.csv", index=False, columns=["test", "comparison", "participants", "power",
                                                             "simulations"])
    (folder / "power.json").write_text(json.dumps(json_ready(plan), indent=2, allow_nan=False),
                                       encoding="utf-8")
    titles = {test: title for test, (*_, title) in TESTS.items()}
    (folder / "power.png").write_bytes(figures.power_figure(table, titles, TARGET_POWER))
    (folder / "answers.txt").write_text("\n".join(plan["answers"]) + "\n", encoding="utf-8")
