"""Choose test images, explain them with every model and method, and write PNGs + the Django fixture.

Everything is written into a temporary folder and moved into place only when
all of it succeeded, so a failure leaves the old stimuli intact.
With --targets top-k K, each model's maps of its K most probable classes are made, each recording its target and the
model's top-K classes; with an error share, the images are chosen so that each model is wrong on about that share
of them (task pages with a right answer only tell something where the model errs).
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

from saliency.attribution import METHODS, predict, ranked_classes
from saliency.data import batches
from saliency.files import publish_folder
from saliency.metrics import explain_and_evaluate
from saliency.names import (
    DEFAULT_RENDERING, DEFAULT_SCALING, METRIC_NAMES, PREDICTION_RANK, PROBABILITY_DIGITS, TARGET_FIELDS,
)
from saliency.rendering import check_choice, png_bytes, png_file_name, render_heatmaps, render_image

FIXTURE_NAME = "stimuli.json"
STIMULUS_DTYPE = torch.float64
PNG_FOLDER = "stimuli"
# --targets: the map of each model's prediction (today's stimuli), or of each of its top-K classes.
PREDICTED_TARGETS, TOP_K_TARGETS = "predicted", "top-k"
TOP_K_RANGE = (2, 10)


@dataclass
class Explainer:
    """A trained model and where it came from, as the fixture records it."""

    variant: str
    model: torch.nn.Module
    preset: str
    checkpoint: str


class SelectionError(Exception):
    pass


def top_k_of(words):
    """--targets' words -> K: 1 for `predicted`, K for `top-k K`; ValueError otherwise."""
    low, high = TOP_K_RANGE
    if list(words) == [PREDICTED_TARGETS]:
        return PREDICTION_RANK
    if len(words) == 2 and words[0] == TOP_K_TARGETS and words[1].isdigit() and low <= int(words[1]) <= high:
        return int(words[1])
    raise ValueError(f"--targets is {PREDICTED_TARGETS} (each model's map of its prediction) or {TOP_K_TARGETS} K "
                     f"(its maps of its K most probable classes, K from {low} to {high}), not {' '.join(words)!r}.")


def class_quotas(n_images, n_classes, generator):
    """n_images spread over the classes: n // k each, the remainder to randomly chosen classes."""
    quotas = [n_images // n_classes] * n_classes
    for c in torch.randperm(n_classes, generator=generator)[: n_images % n_classes].tolist():
        quotas[c] += 1
    return quotas


def error_quotas(quotas, error_share, generator):
    """Per class, how many of its images each model is to get wrong: round(share x images) in all, in proportion to
    the classes' quotas (largest remainders first, ties in a seeded random order)."""
    exact = [error_share * quota for quota in quotas]
    errors = [math.floor(value) for value in exact]
    remainder = math.floor(error_share * sum(quotas) + 0.5) - sum(errors)
    shuffled = torch.randperm(len(quotas), generator=generator).tolist()
    for c in sorted(shuffled, key=lambda c: errors[c] - exact[c])[:remainder]:
        errors[c] += 1
    return errors


class ImageSelection:
    """Seeded test images chosen one by one in a shuffled order, each kept only where it fits the bounds: per
    class its quota of images and, for each model, how many of them it may get wrong and right.

    `wrong` of an image holds, per model, whether the model misclassifies it. Every model right on every image is
    today's rule (error quotas 0). Where the per-class bounds leave places open, `relax` fills them from the images
    passed over, keeping each model's wrong and right totals and the classes as even as those allow.
    """

    def __init__(self, quotas, errors, n_models):
        self.quotas, self.errors = quotas, errors
        self.chosen, self.passed = [], []  # (index, label, wrong) in the order seen
        self.per_class = [[[0, 0] for _ in range(n_models)] for _ in quotas]  # [class][model] = [wrong, right]
        self.totals = [[0, 0] for _ in range(n_models)]
        self.taken = [0] * len(quotas)  # images chosen per class

    @property
    def complete(self):
        return len(self.chosen) == sum(self.quotas)

    @staticmethod
    def _fits(counts, wrong_limit, right_limit, wrong):
        return all(c[0] + w <= wrong_limit and c[1] + (not w) <= right_limit for c, w in zip(counts, wrong))

    def _take(self, index, label, wrong):
        self.chosen.append((index, label, wrong))
        self.taken[label] += 1
        for counts in (self.per_class[label], self.totals):
            for count, w in zip(counts, wrong):
                count[0 if w else 1] += 1

    def offer(self, index, label, wrong):
        """Take the image if it fits its class's bounds; else keep it for `relax`."""
        if self._fits(self.per_class[label], self.errors[label], self.quotas[label] - self.errors[label], wrong):
            self._take(index, label, wrong)
        else:
            self.passed.append((index, label, wrong))

    def relax(self):
        """Fill the open places from the images passed over (in their order), bounding only each model's wrong and
        right totals: first within the class quotas, then allowing each class one image more per round."""
        wrong_total = sum(self.errors)
        right_total = sum(self.quotas) - wrong_total
        extra = 0
        while not self.complete:
            left, held_by_quota = [], False
            for item in self.passed:
                _, label, wrong = item
                if self.complete or not self._fits(self.totals, wrong_total, right_total, wrong):
                    left.append(item)
                elif self.taken[label] >= self.quotas[label] + extra:
                    left.append(item)
                    held_by_quota = True
                else:
                    self._take(*item)
            if not held_by_quota and len(left) == len(self.passed):
                return  # no image passed over fits the models' totals
            self.passed = left
            extra += 1


def choose_images(test_data, explainers, n_images, seed, device="cpu", batch_size=250, option="--images-per-dataset",
                  error_share=None):
    """Seeded test indices, spread over the classes, that every model classifies correctly; with `error_share`
    (0..1), images on which each model is wrong for that share of them (rounded), with the classes and each class's
    errors spread as evenly as the test set allows.

    `option` names the command-line option that asks for the images, for the error message.
    """
    generator = torch.Generator().manual_seed(seed)
    dtype = next(explainers[0].model.parameters()).dtype  # float64 for the stimuli, float32 for evaluate_explanations
    quotas = class_quotas(n_images, len(test_data.classes), generator)
    order = torch.randperm(len(test_data), generator=generator)
    errors = error_quotas(quotas, error_share, generator) if error_share else [0] * len(quotas)
    selection = ImageSelection(quotas, errors, len(explainers))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        x, y = next(batches(test_data, len(indices), indices=indices))
        x, y = x.to(device, dtype), y.to(device)
        wrong = torch.stack([predict(explainer.model, x)[0] != y for explainer in explainers], dim=1)
        for index, label, misses in zip(indices.tolist(), y.tolist(), wrong.tolist()):
            selection.offer(index, label, tuple(misses))
            if selection.complete:
                return sorted(index for index, _, _ in selection.chosen)
    if error_share is not None:
        selection.relax()
        if selection.complete:
            return sorted(index for index, _, _ in selection.chosen)
        raise SelectionError(
            f"Only {len(selection.chosen)} of {n_images} test images can be chosen so that each model is wrong on "
            f"{sum(errors)} of them; ask for fewer with {option}, or another --error-share.")
    raise SelectionError(
        f"Only {len(selection.chosen)} of {n_images} test images are classified correctly by every model "
        f"with classes spread evenly; ask for fewer with {option}."
    )


def error_shares(records):
    """{(dataset, model): (images it gets wrong, images)} over a fixture's records (each model's maps of its
    prediction): what --error-share made."""
    classes = {(r["fields"]["dataset"], r["fields"]["image"]): r["fields"]["class_name"]
               for r in records if r["model"] == "saliency.sourceimage"}
    outcomes = {}
    for record in records:
        fields = record["fields"]
        if record["model"] == "saliency.stimulus" and fields.get("target_rank", PREDICTION_RANK) == PREDICTION_RANK:
            key = tuple(fields["source_image"])
            outcomes[key[0], fields["variant"], key] = fields["predicted_class"] != classes[key]
    shares = {}
    for (dataset, model, _), wrong in outcomes.items():
        errors, images = shares.get((dataset, model), (0, 0))
        shares[dataset, model] = (errors + wrong, images + 1)
    return shares


def _write_png(folder: Path, image) -> str:
    data = png_bytes(image)
    name = png_file_name(data)
    (folder / name).write_bytes(data)
    return f"{PNG_FOLDER}/{name}"


def build_stimuli(dataset, test_data, explainers, n_images, seed, png_folder: Path, device="cpu", methods=("VG",),
                  rendering=DEFAULT_RENDERING, scaling=DEFAULT_SCALING, top_k=PREDICTION_RANK, error_share=None):
    """Render one dataset's images and each model's maps by each method into png_folder; returns
    (source images, stimuli) as dicts.

    The explainers' models are used as float64 copies (STIMULUS_DTYPE); the caller's models are left as they are.
    Every model, method and target gets the same noise (explain_and_evaluate), as in manage.py
    evaluate_explanations. With top_k > 1 each model's maps of its top_k classes are made (the metrics of each
    for its own target) and every stimulus records its target and the model's top_k classes; a map of rank 1 is
    the same whatever top_k. The maps are drawn by `rendering` on ranges by `scaling` (saliency.rendering), once
    all of them are made: a shared range spans the models' maps of one image, method and target rank.
    """
    explainers = [Explainer(e.variant, copy.deepcopy(e.model).to(STIMULUS_DTYPE), e.preset, e.checkpoint)
                  for e in explainers]
    indices = choose_images(test_data, explainers, n_images, seed, device, error_share=error_share)
    x, y = next(batches(test_data, len(indices), indices=torch.tensor(indices)))
    x = x.to(device, STIMULUS_DTYPE)
    sources = [
        {"dataset": dataset, "test_index": index, "class_name": test_data.classes[label],
         "image": _write_png(png_folder, render_image(image.cpu()))}
        for index, label, image in zip(indices, y.tolist(), x)
    ]
    stimuli, maps = [], []
    for explainer in tqdm(explainers, desc=f"{dataset} saliency maps"):
        classes, probabilities = ranked_classes(explainer.model, x, top_k)
        tops = [([test_data.classes[c] for c in row], [_significant(p, PROBABILITY_DIGITS) for p in values])
                for row, values in zip(classes.tolist(), probabilities.tolist())]
        for method in methods:
            for rank in range(1, top_k + 1):
                made, scores = explain_and_evaluate(explainer.model, METHODS[method], x,
                                                     classes[:, rank - 1].contiguous(), seed)
                scores = torch.stack([scores[name] for name in METRIC_NAMES], dim=1).tolist()
                for source, saliency, (names, chances), confidence, values in zip(
                        sources, made.cpu(), tops, probabilities[:, 0].tolist(), scores):
                    maps.append(saliency.numpy())
                    stimuli.append({
                        "source": source, "variant": explainer.variant, "method": method,
                        "predicted_class": names[0], "confidence": round(confidence, 4),
                        "preset": explainer.preset, "checkpoint": explainer.checkpoint,
                        **{name: _significant(value) for name, value in zip(METRIC_NAMES, values)},
                        "rendering": rendering, "scaling": scaling, "settings": {},
                        **(dict(zip(TARGET_FIELDS, (names[rank - 1], rank, chances[rank - 1], names, chances)))
                           if top_k > PREDICTION_RANK else {}),
                    })
    groups = [(stimulus["source"]["test_index"], stimulus["method"], stimulus.get("target_rank", PREDICTION_RANK))
              for stimulus in stimuli]
    for stimulus, picture in zip(stimuli, render_heatmaps(maps, groups, rendering, scaling)):
        stimulus["heatmap"] = _write_png(png_folder, picture)
    return sources, stimuli


def _significant(value, digits=6):
    """A number for the fixture: a metric to 6 significant digits (NaN, RIS/ROS when noise changed the class, as
    null), a probability to PROBABILITY_DIGITS."""
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
            **{k: stimulus[k] for k in STIMULUS_FIELDS + TARGET_FIELDS if k in stimulus}}}
        for stimulus in shuffled
    ]


def write_stimuli(out: Path, per_dataset, seed, device="cpu", methods=("VG",), rendering=DEFAULT_RENDERING,
                  scaling=DEFAULT_SCALING, top_k=PREDICTION_RANK, error_share=None):
    """per_dataset: [(dataset, test_data, explainers, n_images)]. Replaces out/stimuli.json and out/stimuli/."""
    check_choice(rendering, scaling)
    records = []

    def write(staging):
        (staging / PNG_FOLDER).mkdir()
        sources, stimuli = [], []
        for dataset, test_data, explainers, n_images in per_dataset:
            s, t = build_stimuli(dataset, test_data, explainers, n_images, seed, staging / PNG_FOLDER, device,
                                 methods, rendering, scaling, top_k, error_share)
            sources += s
            stimuli += t
        records.extend(fixture_records(sources, stimuli, seed))
        (staging / FIXTURE_NAME).write_text(json.dumps(records, indent=2) + "\n")

    publish_folder(out, write, ".stimuli-")
    return records
