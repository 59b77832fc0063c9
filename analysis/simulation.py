"""Export files of simulated participants, drawn with numpy in one go (fast enough for 6 million ratings).

Tests use it for known and null effects, benchmarks/analysis.py for the timing runs. It writes the
export's exact columns; `manage.py simulate_participants` is the one that plays the real survey.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from studyapp.schema import (
    CHOICES_COLUMNS, CHOICES_FILE, DEFAULT_METHOD, PARTICIPANTS_COLUMNS, PARTICIPANTS_FILE, RATINGS_COLUMNS,
    RATINGS_FILE,
)
from studyapp.schema import (
    LEARN, NO_MAP_CONDITION, OPTION_SEPARATOR, SIMULATION, STIMULI_COLUMNS, STIMULI_FILE, TASK_QUESTIONS,
    TASKS_COLUMNS, TASKS_FILE, TEST, TRUE_CLASS, VERIFICATION, VERIFICATION_OPTIONS,
)
from studyapp.schema import PREDICTION_RANK, SIDE_BY_SIDE_SLOTS, TARGET_RANK
from studyapp.simulation import task_arms

CUTPOINTS = np.array([-1.5, -0.5, 0.5, 1.5])  # latent score -> answers 1..5
DATASETS = ("fmnist", "cifar10")
CLASS_NAMES = ("Sandal", "Shirt", "Bag", "Sneaker", "Coat")
SIMULATED_MAPS = 3  # maps per side-by-side page: three of the models (both of two), as the first release showed
JUSTIFICATIONS = ("clearer outline of the object", "less noise around the edges",
                  "highlights the parts I would look at", "the others look random")


def iso_times(seconds):
    start = np.datetime64("2026-03-01T09:00:00", "s")
    return np.datetime_as_string(start + seconds.astype("timedelta64[s]"), timezone="UTC")


def simulate_export(directory, participants, images=20, effects=None, participant_sd=0.5, noise_sd=1.0,
                    choice_weights=None, seed=0, image_sd=0.0):
    """Write ratings.csv, choices.csv and participants.csv; return their paths.

    Each rating is a latent normal score (the model's effect + the participant's offset [+ the image's
    offset] + noise) cut into 1..5, so ratings of one person (and of one image) are correlated as in a
    real study. Every participant rates every image under every model, then chooses once per image among
    SIMULATED_MAPS of the models shown side by side (both, with two models).
    """
    effects = effects or {"N": 0.0, "A": 0.0, "M2": 0.0}
    models = np.array(list(effects))
    k = len(models)
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = np.char.add("P", np.char.zfill(np.arange(1, participants + 1).astype(str), 6))
    image_names = np.char.add("img-", np.char.zfill(np.arange(1, images + 1).astype(str), 3))
    image_dataset = np.array(DATASETS)[np.arange(images) % len(DATASETS)]
    image_class = np.array(CLASS_NAMES)[np.arange(images) % len(CLASS_NAMES)]

    n = participants * images * k
    person = np.repeat(np.arange(participants), images * k)
    image = np.tile(np.repeat(np.arange(images), k), participants)
    model = np.tile(np.arange(k), participants * images)
    offset = rng.normal(0, participant_sd, participants)[person]
    if image_sd:  # drawn only when asked, so that seeds without image offsets give the files they always gave
        offset = offset + rng.normal(0, image_sd, images)[image]
    effect = np.array([effects[m] for m in models])[model]
    answers = {}
    for statement in ("sufficiency", "trust"):
        latent = effect + offset + rng.normal(0, noise_sd, n)
        answers[statement] = np.searchsorted(CUTPOINTS, latent) + 1
    trial = np.argsort(rng.random((participants, images * k)), axis=1).ravel() + 1
    pd.DataFrame({
        "participant": names[person], "image": image_names[image], "dataset": image_dataset[image],
        "class_name": image_class[image], "model": models[model], "trial": trial,
        "sufficiency": answers["sufficiency"], "trust": answers["trust"],
        "rt_ms": rng.integers(800, 9000, n), "answered_at": iso_times(person * 900 + trial * 10),
        "method": DEFAULT_METHOD,
    }).reindex(columns=list(RATINGS_COLUMNS)).to_csv(directory / RATINGS_FILE, index=False)

    m = participants * images
    person = np.repeat(np.arange(participants), images)
    image = np.tile(np.arange(images), participants)
    maps = min(k, SIMULATED_MAPS)
    order = np.argsort(rng.random((m, k)), axis=1)[:, :maps]
    weights = np.array([(choice_weights or {}).get(name, 1.0) for name in models])
    shown_weights = weights[order]
    cumulative = np.cumsum(shown_weights / shown_weights.sum(axis=1, keepdims=True), axis=1)
    picked = (rng.random(m)[:, None] > cumulative).sum(axis=1).clip(max=maps - 1)
    sides = SIDE_BY_SIDE_SLOTS[:maps]
    pd.DataFrame({
        "participant": names[person], "image": image_names[image], "dataset": image_dataset[image],
        "class_name": image_class[image], **{side: models[order[:, i]] for i, side in enumerate(sides)},
        "chosen_model": models[order[np.arange(m), picked]],
        "justification": np.array(JUSTIFICATIONS)[rng.integers(0, len(JUSTIFICATIONS), m)],
        "rt_ms": rng.integers(2000, 30000, m), "answered_at": iso_times(person * 900 + 700 + image * 10),
        **{f"{side}_method": DEFAULT_METHOD for side in sides}, "chosen_method": DEFAULT_METHOD, "map_count": maps,
    }).reindex(columns=list(CHOICES_COLUMNS)).to_csv(directory / CHOICES_FILE, index=False)

    write_participants(directory / PARTICIPANTS_FILE, names, rng)
    return directory / RATINGS_FILE, directory / CHOICES_FILE, directory / PARTICIPANTS_FILE


def write_participants(path, names, rng):
    """participants.csv of completed participants who passed their attention checks."""
    starts = np.arange(len(names)) * 900
    pd.DataFrame({
        "participant": names, "started_at": iso_times(starts), "completed_at": iso_times(starts + 890),
        "degree": "MSc", "cv_experience_years": rng.integers(0, 10, len(names)),
        "attention_passed": 2, "attention_total": 2, "outcome": "completed", "consent_version": 1,
    }).reindex(columns=list(PARTICIPANTS_COLUMNS)).to_csv(path, index=False)


# Task blocks (issue 29) ------------------------------------------------------------------------------------------

TASK_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot")
TASK_DATASET = "fmnist"


@dataclass(frozen=True)
class TaskBlock:
    """One simulated task block: its task, the scored pages per participant (simulation: of the test phase), the
    options on a page (k), whether a distinction page also asks for the true class, and the simulation's learning
    pages that ask for a guess."""

    task: str
    pages: int
    options: int = 4
    ask_true_class: bool = False
    learn_pages: int = 0


@dataclass(frozen=True)
class TaskWorld:
    """What a simulated task study holds fixed: the arms and who is in which, each model's prediction and ranked
    classes per image, the true classes, and the participants' and images' offsets."""

    arms: list
    models: list
    names: np.ndarray  # participant pseudonyms
    arm_of: np.ndarray  # participant -> arm
    model_of: np.ndarray  # participant -> model
    logits: np.ndarray  # arm -> logit of its accuracy
    truth: np.ndarray  # image -> true class
    prediction: np.ndarray  # (model, image) -> predicted class
    ranked: np.ndarray  # (model, image, class rank) -> class: the prediction, the truth where it differs, the rest
    person_offset: np.ndarray
    image_offset: np.ndarray


def simulate_tasks(participants, accuracy, blocks=(TaskBlock(SIMULATION, 20),), participant_sd=0.5, image_sd=0.5,
                   images=None, error_share=0.5, error_effect=0.0, calibration=1.0, seed=0):
    """tasks.csv's rows (TASKS_COLUMNS) of a simulated study of task blocks, drawn with numpy.

    `accuracy`: condition name (task_arms) -> the chance that a typical participant answers a typical image right
    in that condition; participant k gets the k-th condition in turn (as enrolment assigns them). An answer is
    right with probability logistic(logit(accuracy) + the participant's and the image's normal offsets (SDs on
    the logit scale) + `error_effect` where the model is wrong on the image). Each model is wrong on
    round(error_share x images) of the images (`images`: the pool; default: every participant's pages, each image
    once per participant, none in two blocks or phases). Confidence grows with a right answer by `calibration`; a
    learning guess has none (NaN), as the survey asks none.
    Returns (frame, image_offsets): the offsets let a test build metrics that track them.
    """
    rng = np.random.default_rng(seed)
    arms = task_arms(list(accuracy))
    models = list(dict.fromkeys(arm.model for arm in arms))
    segments = [(position, block, phase, pages) for position, block in enumerate(blocks, start=1)
                for phase, pages in ((LEARN, block.learn_pages),
                                     (TEST if block.task == SIMULATION else "", block.pages)) if pages]
    needed = sum(pages for *_, pages in segments)
    images = images or needed
    if images < needed:
        raise ValueError(f"{images} images cannot fill {needed} pages per participant without repeats.")
    classes = len(TASK_CLASSES)
    truth = np.arange(images) % classes
    wrong = np.zeros((len(models), images), dtype=bool)
    for m in range(len(models)):
        wrong[m, rng.permutation(images)[:round(error_share * images)]] = True
    prediction = np.where(wrong, (truth + rng.integers(1, classes, (len(models), images))) % classes, truth)
    ranked = np.argsort(rng.random((len(models), images, classes)), axis=2)
    first = np.where(prediction[..., None] == ranked, -2, np.where(truth[None, :, None] == ranked, -1, 0))
    ranked = np.take_along_axis(ranked, np.argsort(first, axis=2, kind="stable"), axis=2)
    arm_of = np.arange(participants) % len(arms)
    world = TaskWorld(
        arms=arms, models=models, arm_of=arm_of, model_of=np.array([models.index(arms[a].model) for a in arm_of]),
        names=np.char.add("P", np.char.zfill(np.arange(1, participants + 1).astype(str), 6)),
        logits=np.array([np.log(p / (1 - p)) for p in accuracy.values()]), truth=truth, prediction=prediction,
        ranked=ranked, person_offset=rng.normal(0, participant_sd, participants),
        image_offset=rng.normal(0, image_sd, images))
    shown = np.argsort(rng.random((participants, images)), axis=1)[:, :needed]
    frames, used = [], 0
    for position, block, phase, pages in segments:
        image = shown[:, used:used + pages].ravel()
        used += pages
        person = np.repeat(np.arange(participants), pages)
        trial = np.tile(np.arange(1, pages + 1), participants) + (block.learn_pages if phase == TEST else 0)
        order = np.argsort(rng.random((len(person), block.options)), axis=1)  # the page's options, as shown
        for question in TASK_QUESTIONS[block.task][:2 if block.ask_true_class else 1]:
            frames.append(task_answers(rng, world, block, position, phase, question, person, image, trial, order,
                                       error_effect, calibration))
    frame = pd.concat(frames, ignore_index=True).sort_values(["participant", "block", "trial"], kind="stable")
    return frame.reset_index(drop=True)[list(TASKS_COLUMNS)], world.image_offset


def task_answers(rng, world, block, position, phase, question, person, image, trial, order, error_effect,
                 calibration):
    """The rows of one question of one block and phase (simulate_tasks); `order`: each page's order of its
    classes."""
    n = len(person)
    model = world.model_of[person]
    model_right = world.prediction[model, image] == world.truth[image]
    latent = (world.logits[world.arm_of[person]] + world.person_offset[person] + world.image_offset[image]
              + error_effect * ~model_right)
    correct = rng.random(n) < 1 / (1 + np.exp(-latent))
    if block.task == VERIFICATION:
        options = np.tile(np.array(VERIFICATION_OPTIONS), (n, 1))
        right = np.where(model_right, 0, 1)
    else:
        shown = world.ranked[model, image, :block.options]
        shown = np.take_along_axis(shown, order, axis=1)
        target = world.prediction[model, image] if question != TRUE_CLASS else world.truth[image]
        right = (shown == target[:, None]).argmax(axis=1)
        options = np.array(TASK_CLASSES)[shown]
    k = options.shape[1]
    answer = np.where(correct, right, (right + rng.integers(1, k, n)) % k)
    rows = np.arange(n)
    confidence = np.clip(np.rint(3 + calibration * (2 * correct - 1) + rng.normal(0, 0.8, n)), 1, 5).astype(int)
    if phase == LEARN:  # a learning guess is asked without a confidence (drawn all the same: the same stream)
        confidence = np.full(n, np.nan)
    arm = [world.arms[a] for a in world.arm_of[person]]
    return pd.DataFrame({
        "participant": world.names[person], "block": position, "task": block.task, "phase": phase,
        "condition": [a.condition for a in arm], "model": np.array(world.models)[model],
        "method": [a.method for a in arm], "image": [f"{TASK_DATASET}-{i}" for i in image], "dataset": TASK_DATASET,
        "class_name": np.array(TASK_CLASSES)[world.truth[image]], "trial": trial, "question": question,
        "options": [OPTION_SEPARATOR.join(row) for row in options], "answer": options[rows, answer],
        "correct_answer": options[rows, right], "correct": correct.astype(int), "confidence": confidence,
        "model_prediction": np.array(TASK_CLASSES)[world.prediction[model, image]],
        "model_correct": model_right.astype(int), "rt_ms": rng.integers(1500, 12000, n), "page_hides": 0,
        "answered_at": iso_times(person * 900 + position * 200 + trial * 10),
    })


def simulate_task_export(directory, participants, accuracy, blocks=(TaskBlock(SIMULATION, 20),), seed=0,
                         **spreads):
    """Write the export of a study of task blocks only: tasks.csv (simulate_tasks), participants.csv, stimuli.csv
    (each shown map's metrics: Gini tracks its image's offset, so easy images have sparse maps; the others are
    noise) and ratings.csv and choices.csv without rows. Returns {file kind: path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tasks, image_offset = simulate_tasks(participants, accuracy, blocks, seed=seed, **spreads)
    tasks.assign(confidence=tasks["confidence"].astype("Int64")).to_csv(directory / TASKS_FILE, index=False)
    rng = np.random.default_rng([seed, 1])
    write_participants(directory / PARTICIPANTS_FILE, np.unique(tasks["participant"]), rng)
    for name, columns in ((RATINGS_FILE, RATINGS_COLUMNS), (CHOICES_FILE, CHOICES_COLUMNS)):
        pd.DataFrame(columns=list(columns)).to_csv(directory / name, index=False)
    maps = tasks[tasks["condition"] != NO_MAP_CONDITION].drop_duplicates(["image", "model", "method"])
    maps = maps.sort_values(["image", "model", "method"]).reset_index(drop=True)
    offset = image_offset[maps["image"].str.rsplit("-", n=1).str[1].astype(int).to_numpy()]
    n = len(maps)
    confidence = rng.uniform(0.3, 1.0, n).round(4)
    pd.DataFrame({
        "image": maps["image"], "dataset": maps["dataset"], "class_name": maps["class_name"], "model": maps["model"],
        "predicted_class": maps["model_prediction"], "confidence": confidence,
        "gini": (1 / (1 + np.exp(-offset)) + rng.normal(0, 0.05, n)).round(4), "ris": rng.lognormal(0, 1, n),
        "ros": rng.lognormal(0, 1, n), "road_aopc": rng.normal(0.2, 0.05, n), "ssim": rng.uniform(0.2, 0.9, n),
        "method": maps["method"], "target_class": maps["model_prediction"], TARGET_RANK: PREDICTION_RANK,
        "target_probability": confidence, "true_class": maps["class_name"],
    }).reindex(columns=list(STIMULI_COLUMNS)).to_csv(directory / STIMULI_FILE, index=False)
    return {kind: directory / name for kind, name in (
        ("tasks", TASKS_FILE), ("participants", PARTICIPANTS_FILE), ("stimuli", STIMULI_FILE),
        ("ratings", RATINGS_FILE), ("choices", CHOICES_FILE))}
