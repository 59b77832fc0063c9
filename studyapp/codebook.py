"""The export's codebook: each file's columns with their type, meaning and allowed values (codebook.md, codebook.json).

Generated from studyapp.schema's file and column lists (one source): every column listed there must have an entry
here, and `codebook()` refuses to build if one is missing (a test checks it), so a column added to the schema
without a meaning cannot ship. Allowed values are also kept as data (LEVELS, RANGES): the replication package's
dataset_description.json lists them for every column. Django-free.
"""

import json

from saliency.names import PROBABILITY_DIGITS, RENDERINGS, SCALINGS

from . import quality
from .schema import (
    BALANCE_COLUMNS, BALANCE_FILE, CHOICES_COLUMNS, CHOICES_FILE, METRIC_NAMES, OUTCOMES, PARTICIPANTS_COLUMNS, PARTICIPANTS_FILE, RATINGS_COLUMNS,
    RATINGS_FILE, RECRUITMENT_COLUMNS, RECRUITMENT_FILE, REVIEW_COLUMNS, REVIEW_FILE, STIMULI_COLUMNS, STIMULI_FILE,
    APPROVE, MAY_REJECT, REQUEST_RETURN,
)
from .schema import (
    ACCEPT, BONUS_COLUMNS, BONUS_FILE, CONFIDENCE_LABELS, CONFIDENCE_LEVELS, MODEL_OUTPUT, NO_MAP_CONDITION,
    OPTION_SEPARATOR, PHASES, PREDICTED, QUESTIONS, TASK_QUESTIONS, TASKS, TASKS_COLUMNS, TASKS_FILE, TRUE_CLASS,
    VERIFICATION_OPTIONS,
)

# Every export file; a study without task blocks has no tasks.csv, one that pays no bonus no bonus.csv.
FILES = {RATINGS_FILE: RATINGS_COLUMNS, CHOICES_FILE: CHOICES_COLUMNS, PARTICIPANTS_FILE: PARTICIPANTS_COLUMNS,
         RECRUITMENT_FILE: RECRUITMENT_COLUMNS, STIMULI_FILE: STIMULI_COLUMNS, REVIEW_FILE: REVIEW_COLUMNS,
         BALANCE_FILE: BALANCE_COLUMNS, TASKS_FILE: TASKS_COLUMNS, BONUS_FILE: BONUS_COLUMNS}

FILE_MEANINGS = {
    RATINGS_FILE: "One row per rating answer (an image and its saliency map, two statements).",
    CHOICES_FILE: "One row per side-by-side choice among 2 to 4 maps of the same image (map_count).",
    PARTICIPANTS_FILE: "One row per participant: progress, background, outcome, the researcher's decision and the "
                       "data-quality flags with the numbers behind them.",
    RECRUITMENT_FILE: "Personal data: one row per participant with their platform IDs, for payments. Do not share.",
    STIMULI_FILE: "One row per stimulus (image + model + method + target rank) of the study with its map's "
                  "explanation metrics and the class it explains.",
    BALANCE_FILE: "The design's balance: per page kind, image, condition (model, method) and side-by-side position, "
                  "how many participants' plans show it and how many answered it; per task condition, its "
                  "participants.",
    REVIEW_FILE: "Personal data: the platform's review. One row per participant who was shown a code to hand in "
                 "(or handed work in), with the action a stated rule allows. Do not share.",
    TASKS_FILE: "One row per answer to a scored question of a task block (distinction, simulation, verification): "
                "a distinction page that also asks for the true class gives two rows; a learning page gives a row "
                "only when it asks for a guess.",
    BONUS_FILE: "Personal data: Prolific's bulk bonus, without a header row: one line per participant whose "
                "submission is to be approved (review.csv's approve) and whose score earns a bonus, with their "
                "platform ID and the amount (paste it into Prolific's bulk bonus payment). Do not share.",
}

TEXT, INTEGER, NUMBER, BOOLEAN, TIME, CODE = "text", "integer", "number", "boolean", "time", "code"
DEGREE_LEVELS = ("none", "secondary", "bachelor", "master", "doctorate", "other")  # studyapp.forms.DEGREES' codes
SOURCE_LEVELS = ("invite", "preview", "simulated", "prolific", "mturk", "sona", "generic")
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
    "page": (CODE, "The page kind the balance row counts; condition: a task condition's participants (its image and "
                   "position empty, its method empty for the no-map control).", "rating, choice, condition"),
    "position": (CODE, "The side-by-side position of the map: Map 1 (left), Map 2 (middle), Map 3 (right) or Map 4 "
                       "(fourth); on a two-map page Map 2 is middle.",
                 "left, middle, right, fourth; empty on rating pages and condition rows"),
    "planned": (INTEGER, "Participants whose plan shows this row's map here (a condition row: the participants "
                         "assigned the condition).", ">= 0"),
    "answered": (INTEGER, "Participants who answered that page (a condition row: those of them who answered a task "
                          "page).", ">= 0"),
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
    "degree": (TEXT, "Highest degree.", ", ".join(DEGREE_LEVELS) + "; empty: not given"),
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
                     "platform.", ", ".join(SOURCE_LEVELS)),
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
    "rendering": (CODE, "How the map's values became colours: sequential (0 and below dark, the largest values "
                        "bright), absolute (the magnitude, whatever the sign) or diverging (negative blue, zero "
                        "white, positive red, on a range symmetric around 0).",
                  ", ".join(RENDERINGS) + " (an export written before this column: sequential)"),
    "scaling": (CODE, "The range the colours span: the map's own (map), or one range shared by the models' maps of "
                      "the image by the same method (image).", ", ".join(SCALINGS) + " (an export written before "
                                                                                    "this column: map)"),
    "settings": (TEXT, "The method's settings as the researcher gave them (import_stimuli's settings column, e.g. "
                       "epsilon, target layer, baseline), as a JSON object.", "a JSON object; {}: none given"),
    **{name: (NUMBER, f"Explanation metric {name} of the stimulus's map (saliency.metrics).",
              "empty: could not be computed") for name in METRIC_NAMES},
    "target_class": (TEXT, "The class the map explains (for target_rank 1: the predicted class).",
                     "empty: not recorded (an export written before this column: the predicted class)"),
    "target_rank": (INTEGER, "The target class's rank in the model's output: 1 = its prediction (the maps rating and "
                             "side-by-side pages show), 2 = its runner-up, ... (a distinction page's maps).",
                    ">= 1 (an export written before this column: 1)"),
    "target_probability": (NUMBER, "The model's softmax probability of the target class.",
                           "0-1; empty: not recorded"),
    "top_classes": (TEXT, f"The model's top classes on the image, most probable first, joined by a vertical bar "
                          f"{OPTION_SEPARATOR} (the options of a task page). Formula guard on the whole cell.",
                    "empty: not recorded"),
    "top_probabilities": (TEXT, f"The model's probabilities of top_classes, in the same order, joined by "
                                f"{OPTION_SEPARATOR} ({PROBABILITY_DIGITS} significant digits where "
                                "generate_stimuli made them).",
                          "numbers from 0 to 1; empty: not recorded"),
    "true_class": (TEXT, "The image's true class (class_name again, as task pages name it); the model is right on "
                         "the image iff predicted_class equals it.",
                   "empty: an export written before this column (class_name holds it)"),
}


QUESTION_MEANINGS = {PREDICTED: "distinction: which class does the model predict?",
                     TRUE_CLASS: "distinction: which class is correct?",
                     MODEL_OUTPUT: "simulation: what will the model say?",
                     ACCEPT: "verification: accept or reject the model's label"}
COLUMNS |= {
    "block": (INTEGER, "The block's position in the study (1 = the first block run).", ">= 1"),
    "task": (CODE, "The block's task type.", ", ".join(TASKS)),
    "phase": (CODE, "A simulation block's phase: learn (the model's answers shown) or test (no feedback).",
              f"{', '.join(PHASES)} for simulation; empty otherwise"),
    "condition": (CODE, f"The participant's between-participants condition: {NO_MAP_CONDITION} (the no-map control) "
                        "or the map's cell MODEL×METHOD, e.g. N×VG.", f"{NO_MAP_CONDITION}, MODEL×METHOD"),
    "question": (CODE, "The scored question: " + "; ".join(f"{q} ({m})" for q, m in QUESTION_MEANINGS.items()) + ".",
                 "; ".join(f"{task}: {', '.join(questions)}" for task, questions in TASK_QUESTIONS.items())),
    "options": (TEXT, f"The options in the order shown, joined by a vertical bar {OPTION_SEPARATOR} (class names; "
                      f"verification: {OPTION_SEPARATOR.join(VERIFICATION_OPTIONS)}). Formula guard on the whole cell.",
                ""),
    "answer": (TEXT, "The option chosen.", "one of options"),
    "correct_answer": (TEXT, "The right option: the model's top-1 class (predicted, model_output), the true class "
                             "(true), accept if the model is right on the image else reject (accept).",
                       "one of options"),
    "correct": (INTEGER, "1 if answer equals correct_answer, else 0.", "0, 1"),
    "model_prediction": (TEXT, "The model's top-1 class on this image.", ""),
    "model_correct": (INTEGER, "1 if model_prediction equals class_name (the model is right on the image), else 0.",
                      "0, 1"),
    "bonus": (NUMBER, "The bonus to pay: the study's bonus per right answer above chance times the participant's "
                      "score (their right answers less what guessing would get, per block, summed; a simulation "
                      "block's learning guesses not scored), rounded to the cent, at most the study's cap.",
              "above 0, with two decimals"),
}
# Columns whose meaning in one file differs from COLUMNS' (file -> column -> entry).
FILE_COLUMNS = {
    TASKS_FILE: {
        "model": (CODE, "The variant whose answers the task is about: the condition's model, also for a "
                        f"{NO_MAP_CONDITION} participant (a control belongs to a model).", ""),
        "method": (CODE, "The condition's explanation method.", f"empty for {NO_MAP_CONDITION}"),
        "class_name": (TEXT, "The image's true class.", ""),
        "trial": (INTEGER, "1-based position of the page among the participant's pages of that block (both "
                           "questions of a distinction page share it).", ">= 1"),
        "confidence": (INTEGER, "The participant's confidence in the answer: "
                                + ", ".join(f"{v} = {label}" for v, label in zip(CONFIDENCE_LEVELS, CONFIDENCE_LABELS))
                                + "; empty in a learning guess's row (a learning page asks for none).",
                       f"{CONFIDENCE_LEVELS[0]}-{CONFIDENCE_LEVELS[-1]}"),
    },
}
# The allowed values above as data. LEVELS: the codes a column may hold (booleans: BOOLEAN_LEVELS); RANGES: the
# least and greatest number (None: no bound). Columns of free text or free codes (model and method names) have
# neither.
BOOLEAN_LEVELS = ("True", "False")
LEVELS = {
    "outcome": OUTCOMES,
    "degree": DEGREE_LEVELS,
    "page": ("rating", "choice", "condition"),
    "position": ("left", "middle", "right", "fourth"),
    "source": SOURCE_LEVELS,
    "action": (APPROVE, MAY_REJECT, REQUEST_RETURN),
    "task": TASKS,
    "phase": PHASES,
    "question": QUESTIONS,
}
RANGES = {
    "sufficiency": (1, 5), "trust": (1, 5), "trial": (1, None), "rt_ms": (0, None), "page_hides": (0, None),
    "planned": (0, None), "answered": (0, None), "cv_experience_years": (0, 60), "attention_passed": (0, None),
    "attention_total": (0, None), "consent_version": (1, None), "total_seconds": (0, None), "fast_pages": (0, None),
    "straightlining_share": (0, 1), "attention_failed": (0, None), "confidence": (0, 1),
    "block": (1, None), "correct": (0, 1), "model_correct": (0, 1), "map_count": (2, 4), "target_rank": (1, None),
    "target_probability": (0, 1),
}
# Levels and ranges of columns whose meaning in one file differs from COLUMNS' (as FILE_COLUMNS).
FILE_RANGES = {TASKS_FILE: {"confidence": (CONFIDENCE_LEVELS[0], CONFIDENCE_LEVELS[-1])}}


class MissingMeaning(KeyError):
    pass


def column_entry(file, name):
    """{"name", "type", "meaning", "allowed", "levels", "minimum", "maximum"} of a column of `file` (levels,
    minimum, maximum: None where the codebook states none)."""
    kind, meaning, allowed = (COLUMNS | FILE_COLUMNS.get(file, {}))[name]
    minimum, maximum = (RANGES | FILE_RANGES.get(file, {})).get(name, (None, None))
    levels = LEVELS.get(name, BOOLEAN_LEVELS if kind == BOOLEAN else None)
    return {"name": name, "type": kind, "meaning": meaning, "allowed": allowed,
            "levels": list(levels) if levels else None, "minimum": minimum, "maximum": maximum}


def file_entry(name, columns):
    """{"meaning", "columns": [column_entry]} of one export file."""
    meanings = COLUMNS | FILE_COLUMNS.get(name, {})
    missing = [c for c in columns if c not in meanings]
    if missing:
        raise MissingMeaning(f"studyapp/codebook.py has no meaning for column(s) {', '.join(missing)} of {name}.")
    return {"meaning": FILE_MEANINGS[name], "columns": [column_entry(name, c) for c in columns]}


def codebook(files=FILES):
    """{file: {"meaning", "columns": [column_entry]}} for every export file (`files`: those named, in FILES' order;
    an export's codebook describes the files it holds)."""
    return {name: file_entry(name, columns) for name, columns in FILES.items() if name in files}


def codebook_json(files=FILES):
    return json.dumps(codebook(files), indent=2, ensure_ascii=False) + "\n"


def table_cell(text):
    """A Markdown table cell: a vertical bar escaped, so that it stays in the cell."""
    return text.replace("|", "\\|")


def codebook_markdown(files=FILES):
    lines = ["# Codebook", "", "Files are UTF-8 CSV with CRLF line ends. Text cells starting with = + - @, a tab, "
             "a carriage return or ' carry one leading ' (formula guard; drop it to recover the text).", "",
             "## Data-quality flags", "", quality.__doc__.split("The rules", 1)[1].split("\n", 1)[1].strip(), ""]
    for name, entry in codebook(files).items():
        lines += [f"## {name}", "", entry["meaning"], "", "| Column | Type | Meaning | Allowed values |",
                  "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['type']} | {table_cell(c['meaning'])} | {c['allowed'] or '-'} |"
                  for c in entry["columns"]]
        lines.append("")
    return "\n".join(lines)
