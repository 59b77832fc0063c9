"""Export files of simulated participants, drawn with numpy in one go (fast enough for 6 million ratings).

Tests use it for known and null effects, benchmarks/analysis.py for the timing runs. It writes the
export's exact columns; `manage.py simulate_participants` is the one that plays the real survey.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from studyapp.schema import (
    APPENDED_COLUMNS, CHOICES_COLUMNS, CHOICES_FILE, DEFAULT_METHOD, PARTICIPANTS_COLUMNS, PARTICIPANTS_FILE, RATINGS_COLUMNS, RATINGS_FILE,
)

CUTPOINTS = np.array([-1.5, -0.5, 0.5, 1.5])  # latent score -> answers 1..5
DATASETS = ("fmnist", "cifar10")
CLASS_NAMES = ("Sandal", "Shirt", "Bag", "Sneaker", "Coat")
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
    real study. Every participant rates every image under every model, then chooses once per image.
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
    order = np.argsort(rng.random((m, k)), axis=1)[:, :3]
    weights = np.array([(choice_weights or {}).get(name, 1.0) for name in models])
    shown_weights = weights[order]
    cumulative = np.cumsum(shown_weights / shown_weights.sum(axis=1, keepdims=True), axis=1)
    picked = (rng.random(m)[:, None] > cumulative).sum(axis=1).clip(max=2)
    pd.DataFrame({
        "participant": names[person], "image": image_names[image], "dataset": image_dataset[image],
        "class_name": image_class[image], "left": models[order[:, 0]], "middle": models[order[:, 1]],
        "right": models[order[:, 2]], "chosen_model": models[order[np.arange(m), picked]],
        "justification": np.array(JUSTIFICATIONS)[rng.integers(0, len(JUSTIFICATIONS), m)],
        "rt_ms": rng.integers(2000, 30000, m), "answered_at": iso_times(person * 900 + 700 + image * 10),
        **{column: DEFAULT_METHOD for column in APPENDED_COLUMNS[CHOICES_FILE] if column.endswith("_method")},
    }).reindex(columns=list(CHOICES_COLUMNS)).to_csv(directory / CHOICES_FILE, index=False)

    starts = np.arange(participants) * 900
    pd.DataFrame({
        "participant": names, "started_at": iso_times(starts), "completed_at": iso_times(starts + 890),
        "degree": "MSc", "cv_experience_years": rng.integers(0, 10, participants),
        "attention_passed": 2, "attention_total": 2, "outcome": "completed", "consent_version": 1,
    }).reindex(columns=list(PARTICIPANTS_COLUMNS)).to_csv(directory / PARTICIPANTS_FILE, index=False)
    return directory / RATINGS_FILE, directory / CHOICES_FILE, directory / PARTICIPANTS_FILE
