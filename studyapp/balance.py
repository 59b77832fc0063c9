"""The design's balance: how often each condition (model x method cell) is shown, by image and by page position.

A reviewer checks the design with it: in a balanced study every cell x image count is the same to within one
(rating pages), and every cell appears equally often at each position of the side-by-side page (Map 1 to Map 2, 3
or 4: left, middle, right, fourth). A study of task blocks also counts the participants of each task condition
(assigned evenly in order of consent): one `condition` row each, its image and position empty.
Counts are of participants' plans (`planned`: drawn once at consent) and of their answers (`answered`); the
export writes the frame as balance.csv (columns in studyapp.schema.BALANCE_COLUMNS), the admin and the console
show `summary`.
"""

import pandas as pd
from django.db.models import Count, Q

from .models import Participant, Trial
from .schema import BALANCE_COLUMNS, NO_MAP_CONDITION, SIDE_BY_SIDE_SLOTS, condition_name, image_id

RATING_PAGE, CHOICE_PAGE, TASK_CONDITION = "rating", "choice", "condition"
SIDES = SIDE_BY_SIDE_SLOTS


def balance_frame(study, include_preview=False):
    """One row per rating-page image x cell of the study (zero where never planned; the maps of each model's
    prediction: other target ranks are never rated), and per side-by-side image x cell x side shown; columns
    BALANCE_COLUMNS."""
    people = Participant.objects.filter(study=study)
    if not include_preview:
        people = people.filter(is_preview=False)
    trials = Trial.objects.filter(participant__in=people)
    rows = []
    rated = {
        (r["stimulus"]): r for r in trials.filter(kind=Trial.Kind.RATING).values("stimulus").annotate(
            planned=Count("id"), answered=Count("likert_response"))
    }
    for stimulus in study.stimuli.predicted().select_related("source_image").order_by(
            "source_image__dataset", "source_image__test_index", "variant", "method"):
        counts = rated.get(stimulus.pk, {})
        source = stimulus.source_image
        rows.append((RATING_PAGE, image_id(source.dataset, source.test_index, source.pk),
                     stimulus.variant, stimulus.method, "", counts.get("planned", 0), counts.get("answered", 0)))
    for side in SIDES:
        shown = trials.filter(kind=Trial.Kind.CHOICE, **{f"{side}__isnull": False}).values(
            f"{side}__source_image__dataset", f"{side}__source_image__test_index", f"{side}__source_image_id",
            f"{side}__variant",
            f"{side}__method").annotate(planned=Count("id"), answered=Count("choice_response"))
        for r in shown:
            rows.append((CHOICE_PAGE, image_id(r[f"{side}__source_image__dataset"],
                                               r[f"{side}__source_image__test_index"], r[f"{side}__source_image_id"]),
                         r[f"{side}__variant"], r[f"{side}__method"], side, r["planned"], r["answered"]))
    rows += condition_rows(study, people)
    frame = pd.DataFrame(rows, columns=BALANCE_COLUMNS)
    frame = frame.sort_values(["page", "image", "model", "method", "position"], kind="stable", ignore_index=True)
    for column in ("planned", "answered"):
        frame[column] = frame[column].astype("Int64")
    for column in ("page", "image", "model", "method", "position"):
        frame[column] = frame[column].astype("string")
    return frame


def condition_rows(study, people):
    """Per task condition of the study: the participants assigned it (`planned`) and those of them who answered a
    task page (`answered`)."""
    conditions = list(study.task_conditions.order_by("pk"))
    if not conditions:
        return []
    counts = {row["task_condition"]: row for row in people.filter(task_condition__study=study).values(
        "task_condition").annotate(planned=Count("id", distinct=True), answered=Count(
            "id", filter=Q(trials__task_response__isnull=False), distinct=True))}
    return [(TASK_CONDITION, "", condition.model, condition.method, "", counts.get(condition.pk, {}).get("planned", 0),
             counts.get(condition.pk, {}).get("answered", 0)) for condition in conditions]


def summary(frame):
    """For people: per cell, the rating-page counts over images (min, max, total) and the side-by-side counts by
    position, plus whether the rating counts are within one of each other for every cell x image; per task
    condition, its participants and those who answered a task page."""
    ratings = frame[frame["page"] == RATING_PAGE]
    choices = frame[frame["page"] == CHOICE_PAGE]
    shown = set(choices["position"])
    sides = [(side, f"Map {number}") for number, side in enumerate(SIDES, start=1)
             if number <= 3 or side in shown]  # Map 1-3 as ever; Map 4 once a page shows four maps
    cells = []
    for (model, method), group in ratings.groupby(["model", "method"], sort=False):
        at = choices[(choices["model"] == model) & (choices["method"] == method)].groupby("position")["planned"].sum()
        cells.append({
            "model": model, "method": method,
            "images": len(group), "min": int(group["planned"].min()), "max": int(group["planned"].max()),
            "total": int(group["planned"].sum()), "answered": int(group["answered"].sum()),
            **{side: int(at.get(side, 0)) for side in SIDES},
            "by_side": [int(at.get(side, 0)) for side, _ in sides],
        })
    planned = ratings["planned"]
    conditions = [{"name": condition_name(row.model, row.method) if row.method else NO_MAP_CONDITION,
                   "model": row.model, "participants": int(row.planned), "answered": int(row.answered)}
                  for row in frame[frame["page"] == TASK_CONDITION].itertuples()]
    return {
        "cells": cells,
        "conditions": conditions,
        "sides": sides,
        "within_one": bool(len(planned) == 0 or int(planned.max()) - int(planned.min()) <= 1),
        "rating_min": int(planned.min()) if len(planned) else 0,
        "rating_max": int(planned.max()) if len(planned) else 0,
    }
