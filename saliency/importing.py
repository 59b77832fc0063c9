"""A manifest of a researcher's own images and maps -> stimulus PNGs rendered as generate_stimuli renders them.

The manifest is a CSV file, one row per map:
    image,map,dataset,class_name,model,method[,predicted_class,confidence,test_index,settings]
Paths are relative to the manifest's folder (or absolute). Images are PNG or JPEG; maps are `.npy` arrays
(H x W, any float range) or grayscale PNGs, of the image's size. Dataset, model and method names are free text.
`settings` is a JSON object of the method's settings (epsilon, target layer, baseline, ...), kept as given.
The whole manifest is drawn with one rendering and scaling (saliency.rendering), chosen by the caller.

Everything is checked before anything is rendered: `read_manifest` raises one ManifestError naming every bad
row and what is wrong with it, so an import is all or nothing. Nothing here touches the database.
"""

import csv
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from saliency.names import DEFAULT_RENDERING, DEFAULT_SCALING
from saliency.rendering import check_choice, png_bytes, png_file_name, render_heatmaps, render_image

REQUIRED_COLUMNS = ("image", "map", "dataset", "class_name", "model", "method")
OPTIONAL_COLUMNS = ("predicted_class", "confidence", "test_index", "settings")
NAME_COLUMNS = ("dataset", "class_name", "model", "method")  # free text, stored as given
NAME_LENGTH = 64  # the records' field length
IMAGE_FORMATS = ("PNG", "JPEG")
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
    png: bytes = b""  # drawn once every row is read (a shared range needs all the maps of an image)

    @property
    def file_name(self):
        return png_file_name(self.png)


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

    images, stimuli, maps, seen = {}, [], [], {}
    for number, row in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            stimulus, values = _read_row(manifest.parent, row, images, seen, number, rendering, scaling)
        except ValueError as error:
            problems.append(f"row {number}: {error}")
        else:
            stimuli.append(stimulus)
            maps.append(values)
    if problems:
        raise ManifestError(problems)
    _check_test_indexes(stimuli)
    groups = [(s.image.file_name, s.method) for s in stimuli]  # the maps a model comparison shows together
    pictures = render_heatmaps(maps, groups, rendering, scaling)
    return [replace(s, png=png_bytes(picture)) for s, picture in zip(stimuli, pictures)]


def _read_row(folder, row, images, seen, number, rendering, scaling):
    errors = [f"{column} is empty" for column in REQUIRED_COLUMNS if not row.get(column)]
    errors += [f"{column} is longer than {NAME_LENGTH} characters" for column in NAME_COLUMNS
               if len(row.get(column, "")) > NAME_LENGTH]
    if errors:
        raise ValueError("; ".join(errors))
    image_path, map_path = (folder / row["image"]).resolve(), folder / row["map"]
    key = (str(image_path), row["model"], row["method"])
    if key in seen:
        raise ValueError(f"duplicate of row {seen[key]}: the same image, model and method")
    seen[key] = number
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
    image = ImportedImage(row["dataset"], row["class_name"], test_index, png_bytes(render_image(pixels)))
    earlier = images.setdefault(str(image_path), image)
    if (earlier.dataset, earlier.class_name, earlier.test_index) != (image.dataset, image.class_name, test_index):
        raise ValueError(f"image {row['image']!r} is given another dataset, class_name or test_index than on an "
                         "earlier row")
    return ImportedStimulus(number, earlier, row["model"], row["method"], row["map"], row.get("predicted_class", ""),
                            confidence, settings, rendering, scaling), values


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
