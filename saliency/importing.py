"""A manifest of a researcher's own images and maps -> stimulus PNGs rendered as generate_stimuli renders them.

The manifest is a CSV file, one row per map:
    image,map,dataset,class_name,model,method[,predicted_class,confidence,test_index,settings,
                                             target_class,target_rank,true_class,top_classes,top_probabilities]
Paths are relative to the manifest's folder (or absolute). Images are PNG or JPEG; maps are `.npy` arrays
(H x W, any float range) or grayscale PNGs, of the image's size. Dataset, model and method names are free text.
`settings` is a JSON object of the method's settings (epsilon, target layer, baseline, ...), kept as given.
The target columns (issue 29's task pages) say which class a map explains: its rank in the model's output (1, the
prediction, by default) and name, the model's top classes and their probabilities (`|`-separated, most probable
first); `true_class` repeats class_name, which it must equal. Facts a row leaves out are taken from the others where
they follow (the target of rank r is top_classes' r-th, the prediction its first); facts that disagree are refused.
The whole manifest is drawn with one rendering and scaling (saliency.rendering), chosen by the caller.

Everything is checked before anything is rendered: `read_manifest` raises one ManifestError naming every bad
row and what is wrong with it, so an import is all or nothing. Nothing here touches the database.
"""

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from saliency.names import DEFAULT_RENDERING, DEFAULT_SCALING, LIST_SEPARATOR, PREDICTION_RANK
from saliency.rendering import check_choice, png_bytes, png_file_name, render_heatmaps, render_image

REQUIRED_COLUMNS = ("image", "map", "dataset", "class_name", "model", "method")
TARGET_COLUMNS = ("target_class", "target_rank", "true_class", "top_classes", "top_probabilities")
OPTIONAL_COLUMNS = ("predicted_class", "confidence", "test_index", "settings", *TARGET_COLUMNS)
# free text, stored as given
NAME_COLUMNS = ("dataset", "class_name", "model", "method", "predicted_class", "target_class", "true_class")
NAME_LENGTH = 64  # the records' field length
IMAGE_FORMATS = ("PNG", "JPEG")
# Probabilities rounded to a few digits: their sum may exceed 1, and confidence may differ from the top one, by this
PROBABILITY_TOLERANCE = 1e-3
GRAYSCALE_MODES = ("L", "I", "I;16", "F")


class ManifestError(Exception):
    """Every problem of a manifest, one line each."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ImportedImage:
    dataset: str
    class_name: str
    test_index: int | None
    png: bytes  # the display PNG, as generate_stimuli writes source images

    @property
    def file_name(self):
        """Opaque and content-addressed, as generate_stimuli names its PNGs."""
        return png_file_name(self.png)


@dataclass(frozen=True)
class ImportedStimulus:
    row: int  # the manifest's line number, for messages
    image: ImportedImage
    model: str
    method: str
    map_path: str  # as the manifest gives it: the record's provenance
    predicted_class: str
    confidence: float | None
    settings: dict
    rendering: str
    scaling: str
    target: "Target"
    png: bytes = b""  # drawn once every row is read (a shared range needs all the maps of an image)

    @property
    def file_name(self):
        return png_file_name(self.png)


@dataclass(frozen=True)
class Target:
    """The class a map explains, and the model's output it ranks in (the Stimulus fields of saliency.names)."""

    target_class: str
    target_rank: int
    target_probability: float | None
    top_classes: list
    top_probabilities: list


def _load_image(path):
    """(C, H, W) array in [0, 1] of a PNG or JPEG image, 1 channel for greyscale images, else 3."""
    with Image.open(path) as image:
        if image.format not in IMAGE_FORMATS:
            raise ValueError(f"is {image.format}, not PNG or JPEG")
        grey = image.mode in ("1", "L", "LA", "I", "I;16")
        pixels = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.float64) / 255
    return pixels[None] if grey else pixels.transpose(2, 0, 1)


def _load_map(path):
    """(H, W) float64 array of a .npy map or a grayscale PNG map."""
    if path.suffix.lower() == ".npy":
        values = np.load(path, allow_pickle=False)
        if values.ndim != 2:
            raise ValueError(f"has shape {values.shape}; a map is a 2-D H x W array")
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            raise ValueError(f"holds {values.dtype}, not real numbers")
        values = values.astype(np.float64)
    elif path.suffix.lower() == ".png":
        with Image.open(path) as image:
            if image.format != "PNG" or image.mode not in GRAYSCALE_MODES:
                raise ValueError(f"is a {image.mode} image; a PNG map must be grayscale")
            values = np.asarray(image, dtype=np.float64)
    else:
        raise ValueError("is neither a .npy array nor a grayscale .png")
    if not np.isfinite(values).all():
        raise ValueError("contains NaN or infinite values")
    return values


def _optional_number(text, kind, check, meaning):
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{meaning}, not {text!r}") from None
    if not check(value):
        raise ValueError(f"{meaning}, not {text!r}")
    return value


def _settings(text):
    """The settings cell as a dict: empty for an empty cell, else a JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"settings is not valid JSON ({error.msg} at character {error.pos + 1}); write a JSON "
                         'object such as {"epsilon": 0.1, "target_layer": "layer4"}') from None
    if not isinstance(value, dict):
        raise ValueError(f"settings must be a JSON object such as {{\"epsilon\": 0.1}}, not {text!r}")
    return value


def read_manifest(manifest, rendering=DEFAULT_RENDERING, scaling=DEFAULT_SCALING):
    """The manifest's stimuli, each map drawn by `rendering` on ranges by `scaling`; raises ManifestError naming
    every bad row (data rows count from 2)."""
    check_choice(rendering, scaling)
    manifest = Path(manifest)
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ManifestError([f"{manifest}: cannot read it as a UTF-8 CSV file ({error})."]) from error
    problems = []
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are "
                        f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}.")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}.")
    if not rows and not problems:
        problems.append("the manifest has no rows.")
    if problems:
        raise ManifestError([f"{manifest}: {p}" for p in problems])

    stimuli, maps, earlier = [], [], _EarlierRows()
    for number, row in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            stimulus, values = _read_row(manifest.parent, row, earlier, number, rendering, scaling)
        except ValueError as error:
            problems.append(f"row {number}: {error}")
        else:
            stimuli.append(stimulus)
            maps.append(values)
    if problems:
        raise ManifestError(problems)
    _check_test_indexes(stimuli)
    # the maps a model comparison shows together: the models' maps of one image, method and target rank
    groups = [(s.image.file_name, s.method, s.target.target_rank) for s in stimuli]
    pictures = render_heatmaps(maps, groups, rendering, scaling)
    return [replace(s, png=png_bytes(picture)) for s, picture in zip(stimuli, pictures)]


@dataclass
class _EarlierRows:
    """What the rows read so far gave: per image path its image, per map cell its row, per model and image the
    model's top classes and their row."""

    images: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)


def _read_row(folder, row, earlier, number, rendering, scaling):
    errors = [f"{column} is empty" for column in REQUIRED_COLUMNS if not row.get(column)]
    errors += [f"{column} is longer than {NAME_LENGTH} characters" for column in NAME_COLUMNS
               if len(row.get(column) or "") > NAME_LENGTH]
    if errors:
        raise ValueError("; ".join(errors))
    image_path, map_path = (folder / row["image"]).resolve(), folder / row["map"]
    rank = _optional_number(row.get("target_rank"), int, lambda v: v >= 1,
                            "target_rank must be a whole number from 1") or PREDICTION_RANK
    key = (str(image_path), row["model"], row["method"], rank)
    if key in earlier.cells:
        raise ValueError(f"duplicate of row {earlier.cells[key]}: the same image, model, method and target_rank")
    earlier.cells[key] = number
    for label, path in (("image", image_path), ("map", map_path)):
        if not path.is_file():
            raise ValueError(f"{label} file {row[label]!r} not found (paths are relative to the manifest's folder)")
    try:
        pixels = _load_image(image_path)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"image {row['image']!r} {error if isinstance(error, ValueError) else 'is unreadable'}")
    try:
        values = _load_map(map_path)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"map {row['map']!r} {error if isinstance(error, ValueError) else 'is unreadable'}")
    if values.shape != pixels.shape[1:]:
        raise ValueError(f"map {row['map']!r} is {values.shape[0]}x{values.shape[1]}, its image is "
                         f"{pixels.shape[1]}x{pixels.shape[2]} (height x width)")
    confidence = _optional_number(row.get("confidence"), float, lambda v: 0 <= v <= 1 and math.isfinite(v),
                                  "confidence must be a number from 0 to 1")
    test_index = _optional_number(row.get("test_index"), int, lambda v: v >= 0,
                                  "test_index must be a whole number from 0")
    settings = _settings(row.get("settings"))
    target, predicted_class, confidence = _target(row, rank, confidence)
    image = ImportedImage(row["dataset"], row["class_name"], test_index, png_bytes(render_image(pixels)))
    first = earlier.images.setdefault(str(image_path), image)
    if (first.dataset, first.class_name, first.test_index) != (image.dataset, image.class_name, test_index):
        raise ValueError(f"image {row['image']!r} is given another dataset, class_name or test_index than on an "
                         "earlier row")
    if target.top_classes:  # one model's output on one image is the same for each of its maps
        output = (target.top_classes, target.top_probabilities)
        row_before, output_before = earlier.outputs.setdefault((str(image_path), row["model"]), (number, output))
        if output_before != output:
            raise ValueError(f"model {row['model']!r} is given other top_classes or top_probabilities for this image "
                             f"than on row {row_before}")
    return ImportedStimulus(number, first, row["model"], row["method"], row["map"], predicted_class, confidence,
                            settings, rendering, scaling, target), values


def _probability_list(text):
    try:
        values = [float(item) for item in text.split(LIST_SEPARATOR)]
    except ValueError:
        values = []
    if not values or not all(0 <= v <= 1 for v in values):
        raise ValueError(f"top_probabilities must be numbers from 0 to 1 separated by {LIST_SEPARATOR} (e.g. "
                         f"0.81{LIST_SEPARATOR}0.1), not {text!r}")
    if values != sorted(values, reverse=True):
        raise ValueError(f"top_probabilities must be most probable first, as top_classes are, not {text!r}")
    if sum(values) > 1 + PROBABILITY_TOLERANCE:
        raise ValueError(f"top_probabilities add up to {sum(values):.4g}, more than 1: {text!r}")
    return values


def _class_list(text):
    names = [name.strip() for name in text.split(LIST_SEPARATOR)]
    if not all(names) or any(len(name) > NAME_LENGTH for name in names) or len(set(names)) != len(names):
        raise ValueError(f"top_classes must be different class names of at most {NAME_LENGTH} characters separated "
                         f"by {LIST_SEPARATOR} (e.g. Sneaker{LIST_SEPARATOR}Sandal), not {text!r}")
    return names


def _agree(given, derived, what, source, same=str.__eq__):
    """`given` where the manifest gives it, else `derived`; ValueError where both are given and differ."""
    if given in ("", None):
        return derived
    if derived not in ("", None) and not same(given, derived):
        raise ValueError(f"{what} is {given!r}, but {source} says {derived!r}")
    return given


def _target(row, rank, confidence):
    """(Target, predicted_class, confidence) of a row: its target columns, checked against each other and against
    predicted_class and confidence."""
    if row.get("true_class") and row["true_class"] != row["class_name"]:
        raise ValueError(f"true_class {row['true_class']!r} differs from class_name {row['class_name']!r}; "
                         "class_name is the image's true class (leave true_class empty or repeat it)")
    classes = _class_list(row["top_classes"]) if row.get("top_classes") else []
    probabilities = _probability_list(row["top_probabilities"]) if row.get("top_probabilities") else []
    if len(classes) != len(probabilities):
        raise ValueError(f"top_classes names {len(classes)} classes and top_probabilities gives {len(probabilities)} "
                         "numbers: give both, one probability per class")
    if classes and rank > len(classes):
        raise ValueError(f"target_rank is {rank}, but top_classes names only {len(classes)} classes")
    predicted = _agree(row.get("predicted_class", ""), classes[0] if classes else "", "predicted_class",
                       "top_classes' first")
    confidence = _agree(confidence, probabilities[0] if classes else None, "confidence", "top_probabilities' first",
                        lambda a, b: math.isclose(a, b, abs_tol=PROBABILITY_TOLERANCE))
    ranked = classes[rank - 1] if classes else (predicted if rank == PREDICTION_RANK else "")
    target_class = _agree(row.get("target_class", ""), ranked, "target_class",
                          f"top_classes at rank {rank}" if classes else "predicted_class (rank 1)")
    if not target_class and rank != PREDICTION_RANK:
        raise ValueError(f"a map of target_rank {rank} names the class it explains: give target_class or top_classes")
    probability = probabilities[rank - 1] if classes else (confidence if rank == PREDICTION_RANK else None)
    return Target(target_class, rank, probability, classes, probabilities), predicted, confidence


def _check_test_indexes(stimuli):
    """Two different images cannot claim the same test index of one dataset."""
    claimed = {}
    problems = []
    for image in {s.image.file_name: s.image for s in stimuli}.values():
        if image.test_index is None:
            continue
        other = claimed.setdefault((image.dataset, image.test_index), image)
        if other is not image:
            problems.append(f"two different images are test_index {image.test_index} of dataset {image.dataset!r}.")
    if problems:
        raise ManifestError(problems)
