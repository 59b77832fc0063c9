"""The seeded data sets on which tests/analysis/test_clmm.py compares analysis.clmm with R (reference.R).

Run from the repository root to write them again: .venv/bin/python -m tests.analysis.r_reference.generate
(the test checks that the committed CSVs are exactly what this script writes). Each rating is a latent logistic
score (fixed effects + participant offset + image offset + logistic noise) cut into answers 1..5 at CUTPOINTS, and
`agree` is a second, independent draw cut at 0 (the binary answer of a right/wrong task).

- crossed: 40 participants x 15 images x models N, A, M2, every participant every image under every model;
  participant SD 1.0, image SD 0.7 (logits), model effects 0, 0.5, 1.0.
- near_zero: as crossed, 30 participants x 12 images, but the image SD is 0.05: a variance near zero.
- incomplete: 3 models x 3 methods, 18 images; each participant rates each image under 3 of the 9 cells, as
  studyapp.randomization's balanced incomplete design assigns them (views_per_image 3), and a third of the
  participants stop early (after 10 to 40 of their 54 ratings): unbalanced and incomplete, as real model x method
  studies are. Model, method and interaction effects.
- tasks: a right/wrong task with the condition between participants (none, N_VG, M2_VG, 12 participants each)
  and 20 images crossed with them, as `correct ~ condition + (1|participant) + (1|image)` of issue 29.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from studyapp.randomization import Design, StimulusRef, design_cells

FOLDER = Path(__file__).resolve().parent
CUTPOINTS = np.array([-1.5, -0.5, 0.5, 1.5])
MODELS = ("N", "A", "M2")
METHODS = ("VG", "IG", "SG")
CONDITIONS = ("none", "N_VG", "M2_VG")


def answers(rng, latent):
    """(1..5 answer, 0/1 answer) from two independent logistic draws around `latent`."""
    rating = np.searchsorted(CUTPOINTS, latent + rng.logistic(size=len(latent))) + 1
    agree = (latent + rng.logistic(size=len(latent)) > 0).astype(int)
    return rating, agree


def crossed(seed, participants, images, participant_sd, image_sd):
    rng = np.random.default_rng(seed)
    effects = {"N": 0.0, "A": 0.5, "M2": 1.0}
    frame = pd.DataFrame([(f"P{p:03d}", f"img-{i:02d}", m) for p in range(participants) for i in range(images)
                          for m in MODELS], columns=["participant", "image", "model"])
    person = rng.normal(0, participant_sd, participants)
    picture = rng.normal(0, image_sd, images)
    latent = (frame["model"].map(effects).to_numpy() + person[frame["participant"].str[1:].astype(int)]
              + picture[frame["image"].str[4:].astype(int)])
    frame["rating"], frame["agree"] = answers(rng, latent)
    return frame


def incomplete(seed=23, participants=36, images=18, views=3):
    rng = np.random.default_rng(seed)
    stimuli = [StimulusRef(stimulus=i * 9 + j, source_image=i, variant=model, method=method)
               for i in range(images) for j, (model, method) in enumerate(
                   (m, k) for m in MODELS for k in METHODS)]
    model_effect = {"N": 0.0, "A": 0.4, "M2": 0.9}
    method_effect = {"VG": 0.0, "IG": 0.3, "SG": -0.2}
    interaction = {("M2", "IG"): 0.5, ("A", "SG"): -0.4}
    person = rng.normal(0, 0.9, participants)
    picture = rng.normal(0, 0.6, images)
    rows = []
    for k in range(participants):
        cells = design_cells(stimuli, Design(views_per_image=views, study_seed=seed, index=k))
        kept = len(cells) if k % 3 else int(rng.integers(10, 41))  # every third participant stops early
        for image, (model, method) in cells[:kept]:
            latent = (model_effect[model] + method_effect[method] + interaction.get((model, method), 0.0)
                      + person[k] + picture[image])
            rows.append((f"P{k:03d}", f"img-{image:02d}", model, method, latent))
    frame = pd.DataFrame(rows, columns=["participant", "image", "model", "method", "latent"])
    frame["rating"], frame["agree"] = answers(rng, frame.pop("latent").to_numpy())
    return frame


def tasks(seed=31, per_condition=12, images=20):
    rng = np.random.default_rng(seed)
    effects = {"none": 0.3, "N_VG": 0.6, "M2_VG": 1.2}
    conditions = np.repeat(CONDITIONS, per_condition)
    person = rng.normal(0, 0.8, len(conditions))
    picture = rng.normal(0, 1.0, images)
    frame = pd.DataFrame([(f"P{p:03d}", f"img-{i:02d}", conditions[p]) for p in range(len(conditions))
                          for i in range(images)], columns=["participant", "image", "condition"])
    latent = (frame["condition"].map(effects).to_numpy() + person[frame["participant"].str[1:].astype(int)]
              + picture[frame["image"].str[4:].astype(int)])
    frame["correct"] = (latent + rng.logistic(size=len(frame)) > 0).astype(int)
    return frame


def cases():
    """File name -> data frame."""
    return {"crossed.csv": crossed(11, 40, 15, 1.0, 0.7), "near_zero.csv": crossed(17, 30, 12, 0.8, 0.05),
            "incomplete.csv": incomplete(), "tasks.csv": tasks()}


def csv_text(frame):
    return frame.to_csv(index=False, lineterminator="\n")


if __name__ == "__main__":
    for name, frame in cases().items():
        (FOLDER / name).write_text(csv_text(frame), encoding="utf-8")
        print(f"{FOLDER / name}: {len(frame)} rows")
