"""The export's codebook: each file's columns with their type, meaning and allowed values (codebook.md, codebook.json).

Generated from studyapp.schema's file and column lists (one source): every column listed there must have an entry
here, and `codebook()` refuses to build if one is missing (a test checks it), so a column added to the schema
without a meaning cannot ship. Django-free.
"""

import json

from . import quality
from .schema import (
    BALANCE_COLUMNS, BALANCE_FILE, CHOICES_COLUMNS, CHOICES_FILE, METRIC_NAMES, OUTCOMES, PARTICIPANTS_COLUMNS, PARTICIPANTS_FILE, RATINGS_COLUMNS,
    RATINGS_FILE, RECRUITMENT_COLUMNS, RECRUITMENT_FILE, REVIEW_COLUMNS, REVIEW_FILE, STIMULI_COLUMNS, STIMULI_FILE,
    APPROVE, MAY_REJECT, REQUEST_RETURN,
)

FILES = {RATINGS_FILE: RATINGS_COLUMNS, CHOICES_FILE: CHOICES_COLUMNS, PARTICIPANTS_FILE: PARTICIPANTS_COLUMNS,
         RECRUITMENT_FILE: RECRUITMENT_COLUMNS, STIMULI_FILE: STIMULI_COLUMNS, REVIEW_FILE: REVIEW_COLUMNS,
         BALANCE_FILE: BALANCE_COLUMNS}

FILE_MEANINGS = {
    RATINGS_FILE: "One row per rating answer (an image and its saliency map, two statements).",
    CHOICES_FILE: "One row per side-by-side choice among 2 to 4 maps of the same image (map_count).",
    PARTICIPANTS_FILE: "One row per participant: progress, background, outcome, the researcher's decision and the "
                       "data-quality flags with the numbers behind them.",
    RECRUITMENT_FILE: "Personal data: one row per participant with their platform IDs, for payments. Do not share.",
    STIMULI_FILE: "One row per stimulus (image + model + method) of the study with its map's explanation metrics.",
    BALANCE_FILE: "The design's balance: per page kind, image, condition (model, method) and side-by-side position, "
                  "how many participants' plans show it and how many answered it.",
    REVIEW_FILE: "Personal data: the platform's review. One row per participant who was shown a code to hand in "
                 "(or handed work in), with the action a stated rule allows. Do not share.",
}

TEXT, INTEGER, NUMBER, BOOLEAN, TIME, CODE = "text", "integer", "number", "boolean", "time", "code"
LIKERT = "1-5 (1 = the first label, e.g. Strongly disagree; 5 = the last)"
TIME_FORMAT = "ISO 8601 UTC with milliseconds, e.g. 2026-11-22T15:34:16.123Z; empty: not yet"
BOOLEAN_VALUES = "True, False; empty: not judged"

# column -> (type, meaning, allowed values); a column of the same name means the same in every file.
COLUMNS = {
    "participant": (TEXT, "The participant's pseudonym (never a username or e-mail).", ""),
    "image": (TEXT, "The source image as <dataset>-<test index> (an imported image without one: "
                    "<dataset>-id<record id>).", ""),
    "dataset": (TEXT, "The image's dataset.", ""),
    "class_name": (TEXT, "The image's class as shown to participants.", ""),
    "model": (CODE, "The variant (training recipe or an imported model's name) whose map was rated.", ""),
    "trial": (INTEGER, "1-based position of the rating among the participant's rating pages (checks not counted).",
              ">= 1"),
    "sufficiency": (INTEGER, "Answer to the sufficiency statement.", LIKERT),
    "trust": (INTEGER, "Answer to the trust statement.", LIKERT),
    "rt_ms": (INTEGER, "Milliseconds from first showing the page to the answer.", ">= 0"),
    "answered_at": (TIME, "When the answer was stored.", TIME_FORMAT),
    "page_hides": (INTEGER, "How often the page (participants.csv: all their answered pages) was hidden before the "
                            "answer: another tab, a minimised window (Page Visibility API).",
                   ">= 0; empty: the page sent no count (no script), not 0"),
    "method": (CODE, "The explanation method that made the map: VG, IG, SG, GradCAM or an imported method's name "
                     "(an export written before this column: VG).", ""),
    "left_method": (CODE, "The method of the map shown as Map 1.", ""),
    "middle_method": (CODE, "The method of the map shown as Map 2.", ""),
    "right_method": (CODE, "The method of the map shown as Map 3.", "empty on a two-map page"),
    "fourth_method": (CODE, "The method of the map shown as Map 4.", "empty unless the page showed four maps"),
    "map_count": (INTEGER, "How many maps the side-by-side page showed side by side (Map 1 to Map 2, 3 or 4).",
                  "2, 3, 4 (an export written before this column: 3)"),
    "chosen_method": (CODE, "The method of the chosen map.", ""),
    "page": (CODE, "The page kind the balance row counts.", "rating, choice"),
    "position": (CODE, "The side-by-side position of the map: Map 1 (left), Map 2 (middle), Map 3 (right) or Map 4 "
                       "(fourth); on a two-map page Map 2 is middle.",
                 "left, middle, right, fourth; empty on rating pages"),
    "planned": (INTEGER, "Participants whose plan shows this row's map here.", ">= 0"),
    "answered": (INTEGER, "Participants who answered that page.", ">= 0"),
    "left": (CODE, "The variant shown as Map 1.", ""),
    "middle": (CODE, "The variant shown as Map 2 (the last map of a two-map page).", ""),
    "right": (CODE, "The variant shown as Map 3.", "empty on a two-map page"),
    "fourth": (CODE, "The variant shown as Map 4.", "empty unless the page showed four maps"),
    "chosen_model": (CODE, "The variant chosen; one of the page's maps (left, middle, right, fourth).", ""),
    "justification": (TEXT, "The participant's reason for the choice (formula guard: a leading ' before = + - @).",
                      ""),
    "started_at": (TIME, "When they consented.", TIME_FORMAT),
    "completed_at": (TIME, "When they answered the last page.", TIME_FORMAT),
    "instructions_read_at": (TIME, "When they left the instructions page (its time: from started_at).",
                             TIME_FORMAT + " (an export written before this column: not recorded)"),
    "background_given_at": (TIME, "When they answered the background questions (their time: from "
                                  "instructions_read_at).", TIME_FORMAT + " (an export written before this column, "
                                                                          "or a participant who answered them "
                                                                          "before it was recorded: not recorded)"),
    "degree": (TEXT, "Highest degree.", "none, secondary, bachelor, master, doctorate, other; empty: not given"),
    "cv_experience_years": (INTEGER, "Years of computer-vision experience.", "0-60; empty: not given"),
    "attention_passed": (INTEGER, "Attention checks answered as instructed.", "0 to attention_total"),
    "attention_total": (INTEGER, "Attention checks reached and answered.", ">= 0"),
    "outcome": (CODE, "Where the participation stands.", ", ".join(OUTCOMES)),
    "consent_version": (INTEGER, "The consent text's version they agreed to.", ">= 1; empty: not consented"),
    "excluded": (BOOLEAN, "The researcher's standing decision: excluded from the analysis (analyze leaves them out "
                          "unless --include-excluded). Flags never exclude by themselves.", "True, False"),
    "exclusion_reason": (TEXT, "The researcher's reason for the exclusion.", "empty unless excluded"),
    "speeder": (BOOLEAN, "Completed more than k robust SDs faster than the median on the log scale: total time "
                         "under median x exp(-k Qn) of the completed participants' times, Qn the robust SD of their "
                         "log times (k: the study's speeder SD, default 3). Judged only for completed participants "
                         "once the study's minimum number of completions (default 10) is reached.",
                BOOLEAN_VALUES + " (not completed, or too few completions yet)"),
    "total_seconds": (NUMBER, "Seconds from consent to completion (completed participants).", "empty: not completed"),
    "speeder_cutoff_seconds": (NUMBER, "The speeder cutoff: median x exp(-k Qn) of the completed participants' "
                                       "total seconds.",
                               "empty: not judged (not completed, or too few completions)"),
    "fast_pages": (INTEGER, "Pages answered faster than the study's floor (default 1000 ms). Shown, never alone "
                            "grounds for rejection.", ">= 0"),
    "straight_lining": (BOOLEAN, "One answer on a statement for at least the study's share of ratings (default "
                                 "0.9), or no variance on a statement; judged from the study's minimum ratings "
                                 "(default 5).", BOOLEAN_VALUES),
    "straightlining_share": (NUMBER, "The largest share of one answer on one statement.", "0-1; empty: not judged"),
    "attention_failed": (INTEGER, "Attention checks reached and failed.", ">= 0"),
    "attention_rejectable": (BOOLEAN, f"Failed at least {quality.ATTENTION_FAILURES_TO_REJECT} checks in a study "
                                      f"declared at {quality.PROLIFIC_MIN_MINUTES} minutes or more on the platform "
                                      "(the study's declared duration; Prolific's rule for rejecting). False when the "
                                      "study declares no duration.", "True, False"),
    "source": (TEXT, "How they came: invite, preview, simulated (a rehearsal by simulate_participants), or the "
                     "platform.", "invite, preview, simulated, prolific, mturk, sona, generic"),
    "external_id": (TEXT, "Their platform ID (personal data).", ""),
    "external_session": (TEXT, "The platform's attempt: Prolific SESSION_ID, MTurk assignmentId.", ""),
    "completion_code": (TEXT, "The code their ending showed them.", ""),
    "predicted_class": (TEXT, "The model's predicted class for the image.", ""),
    "confidence": (NUMBER, "The model's softmax probability of its prediction.", "0-1"),
    "action": (CODE, "The platform review: approve; may_reject (a stated rule allows rejecting; the reason says "
                     "which, with its numbers); or request_return (their ending asked them to return the study: "
                     "withdrawn, no consent, expired; never reject them). Deciding is the researcher's.",
               f"{APPROVE}, {MAY_REJECT}, {REQUEST_RETURN}"),
    "reason": (TEXT, "For may_reject: the rule(s) and their numbers; for request_return: the ending.",
               "empty for approve"),
    **{name: (NUMBER, f"Explanation metric {name} of the stimulus's map (saliency.metrics).",
              "empty: could not be computed") for name in METRIC_NAMES},
}


class MissingMeaning(KeyError):
    pass


def codebook():
    """{file: {"meaning", "columns": [{"name", "type", "meaning", "allowed"}]}} for every export file."""
    missing = sorted({c for columns in FILES.values() for c in columns if c not in COLUMNS})
    if missing:
        raise MissingMeaning(f"studyapp/codebook.py has no meaning for column(s) {', '.join(missing)}.")
    return {name: {"meaning": FILE_MEANINGS[name],
                   "columns": [dict(zip(("name", "type", "meaning", "allowed"), (c, *COLUMNS[c]))) for c in columns]}
            for name, columns in FILES.items()}


def codebook_json():
    return json.dumps(codebook(), indent=2, ensure_ascii=False) + "\n"


def codebook_markdown():
    lines = ["# Codebook", "", "Files are UTF-8 CSV with CRLF line ends. Text cells starting with = + - @, a tab, "
             "a carriage return or ' carry one leading ' (formula guard; drop it to recover the text).", "",
             "## Data-quality flags", "", quality.__doc__.split("The rules", 1)[1].split("\n", 1)[1].strip(), ""]
    for name, entry in codebook().items():
        lines += [f"## {name}", "", entry["meaning"], "", "| Column | Type | Meaning | Allowed values |",
                  "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['type']} | {c['meaning'].replace('|', '/')} | {c['allowed'] or '-'} |"
                  for c in entry["columns"]]
        lines.append("")
    return "\n".join(lines)
