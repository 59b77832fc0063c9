"""Choose test images, explain them with every model and method, and write PNGs + the Django fixture.

Everything is written into a temporary folder and moved into place only when
all of it succeeded, so a failure leaves the old stimuli intact.
File names are content hashes, and the fixture names records by natural keys (saliency.models) in a seeded
shuffle of the stimuli: loaddata gives them ids in that order, so neither a file name nor a record id tells which
model made a map, and no fixture takes an id that an imported record holds.
The models run in float64 here (STIMULUS_DTYPE): float32 kernels round differently on different CPUs
(AVX2 or AVX-512, thread counts), enough to move a PNG's grey level or a RIS maximum over 200 perturbations;
in float64 those differences stay far below the fixture's 8-bit pixels and 6 significant digits.
"""

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from saliency.attribution import METHODS, predict
from saliency.data import batches
from saliency.files import publish_folder
from saliency.metrics import explain_and_evaluate
from saliency.names import DEFAULT_RENDERING, DEFAULT_SCALING, METRIC_NAMES
from saliency.rendering import check_choice, png_bytes, png_file_name, render_heatmaps, render_image

FIXTURE_NAME = "stimuli.json"
STIMULUS_DTYPE = torch.float64
PNG_FOLDER = "stimuli"


@dataclass
class Explainer:
    """A trained model and where it came from, as the fixture records it."""

    variant: str
    model: torch.nn.Module
    preset: str
    checkpoint: str


class SelectionError(Exception):
    pass


def class_quotas(n_images, n_classes, generator):
    """n_images spread over the classes: n // k each, the remainder to randomly chosen classes."""
    quotas = [n_images // n_classes] * n_classes
    for c in torch.randperm(n_classes, generator=generator)[: n_images % n_classes].tolist():
        quotas[c] += 1
    return quotas


def choose_images(test_data, explainers, n_images, seed, device="cpu", batch_size=250, option="--images-per-dataset"):
    """Seeded test indices, spread over the classes, that every model classifies correctly.

    `option` names the command-line option that asks for the images, for the error message.
    """
    generator = torch.Generator().manual_seed(seed)
    dtype = next(explainers[0].model.parameters()).dtype  # float64 for the stimuli, float32 for evaluate_explanations
    quotas = class_quotas(n_images, len(test_data.classes), generator)
    order = torch.randperm(len(test_data), generator=generator)
    chosen = []
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        x, y = next(batches(test_data, len(indices), indices=indices))
        x, y = x.to(device, dtype), y.to(device)
        correct = torch.ones_like(y, dtype=torch.bool)
        for explainer in explainers:
            correct &= predict(explainer.model, x)[0] == y
        for index, label, ok in zip(indices.tolist(), y.tolist(), correct.tolist()):
            if ok and quotas[label] > 0:
                quotas[label] -= 1
                chosen.append(index)
        if sum(quotas) == 0:
            return sorted(chosen)
    raise SelectionError(
        f"Only {len(chosen)} of {n_images} test images are classified correctly by every model "
        f"with classes spread evenly; ask for fewer with {option}."
    )


def _write_png(folder: Path, image) -> str:
    data = png_bytes(image)
    name = png_file_name(data)
    (folder / name).write_bytes(data)
    return f"{PNG_FOLDER}/{name}"


def build_stimuli(dataset, test_data, explainers, n_images, seed, png_folder: Path, device="cpu", methods=("VG",),
                  rendering=DEFAULT_RENDERING, scaling=DEFAULT_SCALING):
    """Render one dataset's images and each model's maps by each method into png_folder; returns
    (source images, stimuli) as dicts.

    The explainers' models are used as float64 copies (STIMULUS_DTYPE); the caller's models are left as they are.
    Every model and method gets the same noise (explain_and_evaluate), as in manage.py evaluate_explanations.
    The maps are drawn by `rendering` on ranges by `scaling` (saliency.rendering), once all of them are made.
    """
    explainers = [Explainer(e.variant, copy.deepcopy(e.model).to(STIMULUS_DTYPE), e.preset, e.checkpoint)
                  for e in explainers]
    indices = choose_images(test_data, explainers, n_images, seed, device)
    x, y = next(batches(test_data, len(indices), indices=torch.tensor(indices)))
    x = x.to(device, STIMULUS_DTYPE)
    sources = [
        {"dataset": dataset, "test_index": index, "class_name": test_data.classes[label],
         "image": _write_png(png_folder, render_image(image.cpu()))}
        for index, label, image in zip(indices, y.tolist(), x)
    ]
    stimuli, maps = [], []
    for explainer in tqdm(explainers, desc=f"{dataset} saliency maps"):
        predicted, confidence = predict(explainer.model, x)
        for method in methods:
            made, scores = explain_and_evaluate(explainer.model, METHODS[method], x, predicted, seed)
            scores = torch.stack([scores[name] for name in METRIC_NAMES], dim=1).tolist()
            for source, saliency, cls, conf, values in zip(sources, made.cpu(), predicted.tolist(),
                                                           confidence.tolist(), scores):
                maps.append(saliency.numpy())
                stimuli.append({
                    "source": source, "variant": explainer.variant, "method": method,
                    "predicted_class": test_data.classes[cls], "confidence": round(conf, 4),
                    "preset": explainer.preset, "checkpoint": explainer.checkpoint,
                    **{name: _significant(value) for name, value in zip(METRIC_NAMES, values)},
                    "rendering": rendering, "scaling": scaling, "settings": {},
                })
    groups = [(stimulus["source"]["test_index"], stimulus["method"]) for stimulus in stimuli]
    for stimulus, picture in zip(stimuli, render_heatmaps(maps, groups, rendering, scaling)):
        stimulus["heatmap"] = _write_png(png_folder, picture)
    return sources, stimuli


def _significant(value, digits=6):
    """A metric for the fixture: 6 significant digits; NaN (RIS/ROS when noise changed the class) as null."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


STIMULUS_FIELDS = ("variant", "method", "heatmap", "predicted_class", "confidence", "preset", "checkpoint",
                   *METRIC_NAMES, "rendering", "scaling", "settings")


def fixture_records(sources, stimuli, seed):
    """Django fixture records named by natural keys (no primary keys), the stimuli in a seeded shuffle: loaddata
    numbers new records in file order, so their ids reveal no model or method."""
    records = [{"model": "saliency.sourceimage", "fields": {
        k: source[k] for k in ("dataset", "test_index", "class_name", "image")}} for source in sources]
    places = torch.randperm(len(stimuli), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [stimulus for _, stimulus in sorted(zip(places, stimuli), key=lambda pair: pair[0])]
    return records + [
        {"model": "saliency.stimulus", "fields": {
            "source_image": [stimulus["source"]["dataset"], stimulus["source"]["image"]],
            **{k: stimulus[k] for k in STIMULUS_FIELDS}}}
        for stimulus in shuffled
    ]


def write_stimuli(out: Path, per_dataset, seed, device="cpu", methods=("VG",), rendering=DEFAULT_RENDERING,
                  scaling=DEFAULT_SCALING):
    """per_dataset: [(dataset, test_data, explainers, n_images)]. Replaces out/stimuli.json and out/stimuli/."""
    check_choice(rendering, scaling)
    records = []

    def write(staging):
        (staging / PNG_FOLDER).mkdir()
        sources, stimuli = [], []
        for dataset, test_data, explainers, n_images in per_dataset:
            s, t = build_stimuli(dataset, test_data, explainers, n_images, seed, staging / PNG_FOLDER, device,
                                 methods, rendering, scaling)
            sources += s
            stimuli += t
        records.extend(fixture_records(sources, stimuli, seed))
        (staging / FIXTURE_NAME).write_text(json.dumps(records, indent=2) + "\n")

    publish_folder(out, write, ".stimuli-")
    return records
