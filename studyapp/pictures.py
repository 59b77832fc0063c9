"""Stimulus PNGs as data: URIs, for embedding in the trial page.

Embedded, the images arrive with the page: no per-image request, no image URL that could leak a
stimulus or be opened by someone else, and no page that reflows while its images load. Stimulus
files are named by a hash of their content (saliency.stimuli), so a name's bytes never change: each
worker keeps the most recently shown ones (a study's 80 fixture PNGs are ~0.4 MB as base64; the bound
keeps a study of large colour maps, ~60 KB each, under ~40 MB per worker).
"""

import base64
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from saliency.models import Stimulus

from .models import Trial
from .schema import SIDE_BY_SIDE_SLOTS


@lru_cache(maxsize=512)
def png_data_uri(root, relative):
    """`relative` under `root` as a data: URI; OSError when it is missing or outside `root`."""
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise FileNotFoundError(f"{relative!r} is outside the stimuli folder {base}")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@lru_cache(maxsize=None)
def map_legend(rendering):
    """The colour key of maps drawn by `rendering`: a CSS gradient's colours and its words, low to high."""
    from saliency.rendering import legend  # matplotlib's colormaps: loaded only where a study shows a key

    colours, words = legend(rendering)
    return {"gradient": ", ".join(colours), "words": words}


def legends(stimuli):
    """The colour keys of the ways `stimuli` were drawn, one where they share one."""
    keys = (map_legend(stimulus.rendering) for stimulus in stimuli)
    return list({(key["gradient"], key["words"]): key for key in keys}.values())


def stimulus_pictures(trial, with_legend=False):
    """Class name, original image and map(s) of a trial (one map, or a side-by-side trial's 2 to 4), as data: URIs;
    `with_legend`: the colour key of each way the maps were drawn (one key where they share one)."""
    single = trial.kind != Trial.Kind.CHOICE
    ids = [trial.stimulus_id] if single else trial.map_ids
    stimuli = Stimulus.objects.select_related("source_image").order_by().in_bulk(ids)
    source = stimuli[ids[0]].source_image  # every map of a trial is of the trial's one image
    maps = [png_data_uri(settings.STIMULI_ROOT, stimuli[pk].heatmap) for pk in ids]
    context = {"class_name": source.class_name, "image_src": png_data_uri(settings.STIMULI_ROOT, source.image)}
    if with_legend:
        context["legends"] = legends(stimuli[pk] for pk in ids)
    if single:
        context["map_src"] = maps[0]
    else:
        context["maps"] = [(f"Map {slot}", src) for slot, src in enumerate(maps, start=1)]
    return context


def task_pictures(trial, shows_maps, with_legend=False):
    """A task page's facts and pictures (issue 29): its image, true class and the model's prediction (the facts of
    its `stimulus`, the model's map of its prediction) and, in a map condition (`shows_maps`), its maps labelled for
    participants: a distinction page's maps of the classes offered, by class name in the options' order; another
    page's map of the prediction. Labels and alt texts never name a model or method."""
    ids = [pk for pk in (getattr(trial, f"{slot}_id") for slot in SIDE_BY_SIDE_SLOTS) if pk is not None]
    labels = list(trial.options)
    if not ids and shows_maps:
        ids, labels = [trial.stimulus_id], [""]
    stimuli = Stimulus.objects.select_related("source_image").order_by().in_bulk([trial.stimulus_id, *ids])
    prediction = stimuli[trial.stimulus_id]
    source = prediction.source_image
    context = {"true_class": source.class_name, "prediction": prediction.target_class,
               "image_src": png_data_uri(settings.STIMULI_ROOT, source.image),
               "maps": [(label, png_data_uri(settings.STIMULI_ROOT, stimuli[pk].heatmap))
                        for label, pk in zip(labels, ids)]}
    if with_legend and ids:
        context["legends"] = legends(stimuli[pk] for pk in ids)
    return context
