"""Export files of simulated studies in shapes the analysis tests and the report's browser test share."""

import json
import re

import numpy as np
import pandas as pd

from analysis.simulation import simulate_export
from studyapp.schema import APPENDED_COLUMNS, METRIC_NAMES, STIMULI_COLUMNS, STIMULI_FILE

METHODS_DEMO = {"N": {"VG": 1.0, "IG": 2.0, "SG": 0.5}, "A": {"VG": 1.0, "IG": 0.7, "SG": 1.5},
                "M2": {"VG": 1.0, "IG": 1.2, "SG": 3.0}}


def methods_demo_export(folder, participants=20, images=20, seed=3):
    """Export files shaped as the shipped "methods" demo's: ratings of N/A/M2 x VG/IG/SG, and side-by-side pages
    that each show the three methods of one model (in a shuffled order), chosen with METHODS_DEMO's weights."""
    cells = [(m, k) for m, methods in METHODS_DEMO.items() for k in methods]
    ratings, choices_path, people = simulate_export(folder, participants, images=images, seed=seed,
                                                    effects={f"{m}|{k}": 0.0 for m, k in cells})
    frame = pd.read_csv(ratings, dtype=str, keep_default_na=False)
    frame["model"], frame["method"] = frame["model"].str.split("|").str[0], frame["model"].str.split("|").str[1]
    frame.to_csv(ratings, index=False)
    rng = np.random.default_rng(seed)
    frame = pd.read_csv(choices_path, dtype=str, keep_default_na=False)
    models = list(METHODS_DEMO)
    model = np.array(models)[(np.arange(len(frame)) + rng.integers(0, 3)) % 3]
    for i, name in enumerate(model):
        methods = list(rng.permutation(list(METHODS_DEMO[name])))
        weights = np.array([METHODS_DEMO[name][k] for k in methods])
        chosen = methods[rng.choice(3, p=weights / weights.sum())]
        for side, method in zip(("left", "middle", "right"), methods):
            frame.loc[i, side], frame.loc[i, f"{side}_method"] = name, method
        frame.loc[i, "chosen_model"], frame.loc[i, "chosen_method"] = name, chosen
    frame.to_csv(choices_path, index=False)
    return ratings, choices_path, people


def stimuli_export(ratings, path, seed=0):
    """stimuli.csv for every rated image, model and method, with random values of every metric."""
    rng = np.random.default_rng(seed)
    rated = pd.read_csv(ratings)[["image", "dataset", "class_name", "model", "method"]].drop_duplicates()
    metrics = {name: rng.uniform(0.1, 0.9, len(rated)) for name in METRIC_NAMES}
    later = {column: value for column, value in APPENDED_COLUMNS[STIMULI_FILE].items() if column not in rated}
    rated.assign(predicted_class=rated["class_name"], confidence=0.9, **metrics, **later)[list(STIMULI_COLUMNS)] \
        .to_csv(path, index=False)
    return path


def report_file_without_provenance(path):
    """A report file's bytes without its provenance (when the report was made and from which files), which differs
    between any two runs: report.md's list under the title, report.html's provenance list, results.json's key."""
    data = path.read_bytes()
    if path.name == "results.json":
        results = json.loads(data)
        results.pop("provenance", None)
        return json.dumps(results, sort_keys=True).encode()
    if path.name == "report.html":
        return re.sub(rb'<ul class="provenance">.*?</ul>', b"", data, flags=re.S)
    if path.name == "report.md":
        head, sample = data.split(b"## Sample", 1)
        return b"\n".join(line for line in head.split(b"\n") if not line.startswith(b"- ")) + sample
    return data
