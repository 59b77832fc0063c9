"""What a replication package takes from a study on its instance; analysis/package.py lays the package out.

- The data: the export's shareable files (ratings, choices, participants, stimuli, and tasks where the study has
  task answers) of the participants whose answers are kept. recruitment.csv, review.csv and bonus.csv (the platform
  IDs) are never among them; withdrawn and erased participants and researchers' previews are left out; the
  justifications are kept, as the report keeps them, unless asked to leave them out.
- The materials: the study file (without its ending codes), every stimulus PNG of the study with a manifest of
  its SHA-256 and what made it (the checkpoints' hashes and training settings, or the imported maps' names), each
  consent version's text, and one HTML snapshot of each page type as a participant sees it.
- The strings no file of the package may hold (`secrets`): participants' platform IDs, usernames and invite
  tokens, and the study's ending codes.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import transaction
from django.db.models import Max, Min
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from saliency import rendering
from saliency.files import file_sha256

from . import randomization, readiness, studyfile
from .export import export_frames
from .models import AttentionFailureEnding, Outcome, Participant, Trial
from .rehearsal import Rehearsal, default_host
from .schema import (
    CHOICES_FILE, DELETED_OUTCOMES, PARTICIPANTS_FILE, RATINGS_FILE, SIDE_BY_SIDE_SLOTS, STIMULI_FILE, TASKS_FILE,
    image_id,
)
from .simulation import AnswerModel

# The page types a participant meets, in the order they meet them; a study without attention checks or
# side-by-side pages has no such page.
PAGE_TYPES = ("consent", "instructions", "background", "rating", "attention_check", "choice", "withdraw", "ending")
STEP_PAGES = {"studyapp:consent": "consent", "studyapp:instructions": "instructions",
              "studyapp:background": "background", "studyapp:complete": "ending"}
TRIAL_PAGES = {Trial.Kind.RATING: "rating", Trial.Kind.ATTENTION: "attention_check", Trial.Kind.CHOICE: "choice"}
CODE_LEFT_OUT = "[code left out]"
MIN_SECRET_LENGTH = 8  # shorter IDs (SONA's numbers) cannot be told from the data's numbers; no column holds one
# The export files a package shares. recruitment.csv, review.csv and bonus.csv carry platform IDs (personal data:
# never shared); balance.csv is the design's bookkeeping, which the study file and the answers already give.
SHARED_FILES = (RATINGS_FILE, CHOICES_FILE, PARTICIPANTS_FILE, STIMULI_FILE, TASKS_FILE)
STIMULUS_MANIFEST_COLUMNS = ("image", "dataset", "class_name", "model", "method", "image_file", "image_sha256",
                             "map_file", "map_sha256", "predicted_class", "confidence", "preset", "checkpoint",
                             "shown", "target_class", "target_rank")


def shared_frames(study, without_justifications=False):
    """{export file name: frame} of the export's shareable files (SHARED_FILES), for the participants whose answers
    are kept; tasks.csv only where the study has task answers."""
    frames = {name: frame for name, frame in export_frames(study).items() if name in SHARED_FILES}
    participants = frames[PARTICIPANTS_FILE]
    kept = ~participants["outcome"].isin(DELETED_OUTCOMES)
    frames[PARTICIPANTS_FILE] = participants[kept.to_numpy()].reset_index(drop=True)
    if without_justifications:
        choices = frames[CHOICES_FILE]
        choices["justification"] = pd.Series("", index=choices.index, dtype="string")
    if TASKS_FILE in frames and not len(frames[TASKS_FILE]):
        del frames[TASKS_FILE]
    return frames


@dataclass(frozen=True)
class StimulusFile:
    name: str  # the file's name in the package: its content's (saliency.rendering.png_file_name)
    path: Path
    sha256: str


def shown_stimuli(study):
    """Ids of the study's stimuli that a kept participant's page showed (previews and deleted people left out)."""
    trials = Trial.objects.filter(participant__study=study, participant__is_preview=False, shown_at__isnull=False)
    shown = set()
    for column in ("stimulus", *SIDE_BY_SIDE_SLOTS):
        shown |= set(trials.exclude(**{f"{column}__isnull": True}).values_list(f"{column}_id", flat=True))
    return shown


def stimulus_materials(study):
    """(files, manifest): every PNG of the study's stimuli (each file once) and one manifest row per stimulus."""
    root = Path(settings.STIMULI_ROOT)
    files, rows, shown = {}, [], shown_stimuli(study)

    def packaged(relative):
        path = root / relative
        if not path.is_file():
            raise FileNotFoundError(f"Stimulus PNG file {path} is missing; the package holds every stimulus.")
        data = path.read_bytes()
        name, digest = rendering.png_file_name(data), hashlib.sha256(data).hexdigest()
        files.setdefault(name, StimulusFile(name, path, digest))
        return name, digest

    for stimulus in study.stimuli.select_related("source_image").order_by(
            "source_image__dataset", "source_image__test_index", "source_image_id", "variant", "method",
            "target_rank"):
        source = stimulus.source_image
        image_file, image_sha = packaged(source.image)
        map_file, map_sha = packaged(stimulus.heatmap)
        rows.append({"image": image_id(source.dataset, source.test_index, source.pk), "dataset": source.dataset,
                     "class_name": source.class_name, "model": stimulus.variant, "method": stimulus.method,
                     "image_file": image_file, "image_sha256": image_sha, "map_file": map_file,
                     "map_sha256": map_sha, "predicted_class": stimulus.predicted_class,
                     "confidence": stimulus.confidence, "preset": stimulus.preset, "checkpoint": stimulus.checkpoint,
                     "shown": stimulus.pk in shown, "target_class": stimulus.target_class,
                     "target_rank": stimulus.target_rank})
    return list(files.values()), pd.DataFrame(rows, columns=STIMULUS_MANIFEST_COLUMNS)


def generation_provenance(manifest, checkpoints):
    """How the stimuli were made: the rendering settings, and per checkpoint its file's SHA-256 and the settings,
    seed and accuracy of its training (the JSON beside it); imported maps are named by their files."""
    generated = manifest[manifest["preset"] != ""]
    entries = []
    for (preset, checkpoint), group in generated.groupby(["preset", "checkpoint"], sort=True):
        weights = Path(checkpoints) / checkpoint
        metadata = weights.with_suffix(".json")
        entries.append({
            "checkpoint": checkpoint, "preset": preset, "models": sorted(set(group["model"])),
            "sha256": file_sha256(weights) if weights.is_file() else None,
            "training": json.loads(metadata.read_text(encoding="utf-8")) if metadata.is_file() else None,
            **({} if weights.is_file() else {"missing": "not found in the checkpoints folder (package "
                                                        "--checkpoints)"}),
        })
    imported = manifest[manifest["preset"] == ""]
    return {
        "rendering": {"display_size": rendering.DISPLAY_SIZE, "colormaps": dict(rendering.COLORMAPS),
                      "clip_percentile": rendering.CLIP_PERCENTILE,
                      "rule": "each map drawn as its stimulus records (stimuli.csv's rendering and scaling): its "
                              "range the 99th percentile of the values shown (of |value| for absolute and "
                              "diverging), the map's own or shared by one image's maps of one method, values beyond "
                              "it clipped (saliency.rendering)"},
        "generated": {
            "command": "manage.py generate_stimuli (saliency/stimuli.py)",
            "seed_note": "generate_stimuli's --seed trains the models, chooses the images and draws the metrics' "
                         "noise; each checkpoint's training seed is under training.seed. stimuli.json does not "
                         "record the seed of a run that reused checkpoints trained with another.",
            "checkpoints": entries,
        } if entries else None,
        "imported": {
            "command": "manage.py import_stimuli MANIFEST.csv (saliency/importing.py)",
            "note": "import_stimuli keeps no copy of its manifest; each imported map's file name, as it recorded "
                    "it, is manifest.csv's checkpoint column (preset empty).",
            "stimuli": int(len(imported)),
        } if len(imported) else None,
    }


def study_facts(study):
    """What the package's README and prereg.md say of the study: its settings in words and its counts."""
    refs = study.stimulus_refs()
    cells = randomization.conditions(refs)
    real = Participant.objects.filter(study=study, is_preview=False)
    span = real.aggregate(first=Min("consented_at"), last=Max("ended_at"))
    made_on = timezone.now().date().isoformat()
    dates = (f"{span['first'].date().isoformat()}/{(span['last'] or timezone.now()).date().isoformat()}"
             if span["first"] else made_on)
    images = len({ref.source_image for ref in refs})
    views = study.views_per_image
    design = (f"Each participant rates each image under {views} of the {len(cells)} conditions (a balanced "
              "incomplete design, rotated over participants in order of consent)." if randomization.is_incomplete(
                  refs, study.design()) else "Each participant rates every image under every condition.")
    policy = dict(AttentionFailureEnding.choices)[study.attention_failure_ending]
    attention = (f"{len(randomization.ATTENTION_TARGETS)} instructed-response items (\"select '...' for this "
                 f"item\") among the ratings; the study's policy on failing them: \"{policy}\"."
                 if study.attention_checks else "none.")
    thresholds = study.quality_thresholds()
    flags = (f"speeder (total time under the mean minus {thresholds.speeder_sd} SD of completed participants' "
             f"times, from {thresholds.speeder_min_completions} completions on); fast pages (under "
             f"{thresholds.page_floor_ms} ms); straight-lining (one answer on a statement for at least "
             f"{thresholds.straightlining_share:.0%} of the ratings, from {thresholds.straightlining_min_ratings} "
             "ratings on); failed attention checks; hidden pages.")
    return {
        "slug": study.slug, "title": study.title, "seed": study.seed, "made_on": made_on, "dates": dates,
        "statements": (study.sufficiency_statement, study.trust_statement), "likert_labels": study.likert_labels,
        "conditions": cells, "methods": sorted({method for _, method in cells}), "stimuli": len(refs),
        "images": images, "comparison": study.comparison,
        "comparisons": "every image's" if study.comparison_count is None else str(study.comparison_count),
        "design": design, "length": str(readiness.study_length(study)), "attention": attention, "flags": flags,
        "source": study.get_recruitment_source_display() if study.recruitment_source else "personal invite links",
        "places": (f"at most {study.max_participants} at once, counted as Prolific counts them"
                   if study.max_participants else "no limit set in the study"),
        "counts": {
            "arrived": real.count(), "consented": real.filter(consented_at__isnull=False).count(),
            "completed": real.filter(outcome=Outcome.COMPLETED).count(),
            "withdrawn": real.filter(outcome=Outcome.WITHDRAWN).count(),
            "erased": real.filter(outcome=Outcome.ERASED).count(),
            "previews": Participant.objects.filter(study=study, is_preview=True).count(),
        },
    }


def consent_texts(study):
    """[(version number, text)] of every consent version the study has shown, oldest first."""
    study.ensure_consent_version()
    return list(study.consent_versions.order_by("number").values_list("number", "text"))


def study_file(study):
    """The study file as the package ships it: without its ending codes (secret on the platform)."""
    return studyfile.dump(study, without_codes=True)


def ending_codes(study):
    return sorted({study.code_for(ending) for ending in study.ENDING_FIELDS} - {""})


def secrets(study):
    """The strings no file of a package may hold: platform IDs, usernames and invite tokens of every participant
    of the study (previews and deleted people too), and its ending codes; those of MIN_SECRET_LENGTH characters
    or more that are not plain numbers."""
    found = set(ending_codes(study))
    for row in Participant.objects.filter(study=study).values_list("external_id", "external_session",
                                                                     "user__username", "invite_token"):
        found |= set(row)
    return sorted(s for s in found if s and len(s) >= MIN_SECRET_LENGTH and not s.isdigit())


# --- Page snapshots ------------------------------------------------------------------------------------------

PLAIN_STATIC = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_REFERENCE = re.compile(r'<link rel="stylesheet" href="(?P<css>[^"]+)">|'
                              r'<script src="(?P<js>[^"]+)"(?: defer)?></script>')


def page_snapshots(study):
    """{page type: HTML} of one participant's walk through the study's real pages (the survey's views and
    templates through Django's test client), made in a transaction that is rolled back: nothing is kept. Each
    page is self-contained (its style sheet and script inlined, images already embedded) and shows no code."""
    pages = {}

    def keep(participant, client, response):
        name = page_type(participant, response)
        if name and name not in pages:
            pages[name] = response.content.decode()
        if name == "rating" and "withdraw" not in pages:
            pages["withdraw"] = client.get(reverse("studyapp:withdraw"), secure=rehearsal.secure).content.decode()

    with override_settings(STORAGES=PLAIN_STATIC), transaction.atomic():
        rehearsal = Rehearsal(study, AnswerModel(), seed=0, host=default_host(), secure=settings.SECURE_SSL_REDIRECT,
                              on_page=keep)
        rehearsal.run(1)
        transaction.set_rollback(True)
    codes = ending_codes(study)
    return {name: without_codes(self_contained(pages[name]), codes) for name in PAGE_TYPES if name in pages}


def page_type(participant, response):
    match = response.resolver_match
    if match is None:
        return None
    if match.view_name == "studyapp:trial":
        kind = Trial.objects.get(participant=participant, position=match.kwargs["position"]).kind
        return TRIAL_PAGES[kind]
    return STEP_PAGES.get(match.view_name)


def self_contained(html):
    """The page with its static style sheet and script inlined, so that it shows the same opened from a folder."""
    def inline(match):
        url = match.group("css") or match.group("js")
        prefix = "/" + settings.STATIC_URL.lstrip("/")
        found = finders.find(url.removeprefix(prefix)) if url.startswith(prefix) else None
        if found is None:
            return match.group(0)
        text = Path(found).read_text(encoding="utf-8")
        return f"<style>\n{text}</style>" if match.group("css") else f"<script>\n{text}</script>"

    return STATIC_REFERENCE.sub(inline, html)


def without_codes(html, codes):
    """`html` with each of `codes` (as a whole word) shown as CODE_LEFT_OUT."""
    for code in codes:
        html = re.sub(rf"(?<![\w-]){re.escape(code)}(?![\w-])", CODE_LEFT_OUT, html)
    return html
