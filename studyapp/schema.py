"""The export's layout, in one place: file names, column lists, outcomes, metric names and the formula guard.

Django-free, so that the exporter (studyapp/export.py), the analysis that reads its files
(analysis/loading.py) and the report agree on every name by importing it from here: adding a column is
one edit here plus its producer. The file format itself is documented in studyapp/export.py.
"""

from saliency.names import (
    DEFAULT_RENDERING, DEFAULT_SCALING, LIST_SEPARATOR, METRIC_NAMES, PREDICTION_RANK, TARGET_FIELDS, TARGET_RANK,
)

RATINGS_FILE = "ratings.csv"
CHOICES_FILE = "choices.csv"
PARTICIPANTS_FILE = "participants.csv"
RECRUITMENT_FILE = "recruitment.csv"
STIMULI_FILE = "stimuli.csv"
BALANCE_FILE = "balance.csv"
REVIEW_FILE = "review.csv"  # for the platform's review: like recruitment.csv, it carries platform IDs
TASKS_FILE = "tasks.csv"  # issue 29: one row per answer to a scored question of a task block
BONUS_FILE = "bonus.csv"  # Prolific's bulk bonus, `<Prolific ID>,<amount>` without a header: carries platform IDs

RATINGS_COLUMNS = ("participant", "image", "dataset", "class_name", "model", "trial", "sufficiency", "trust",
                   "rt_ms", "answered_at", "method")
CHOICES_COLUMNS = ("participant", "image", "dataset", "class_name", "left", "middle", "right", "chosen_model",
                   "justification", "rt_ms", "answered_at", "left_method", "middle_method", "right_method",
                   "chosen_method")
PARTICIPANTS_COLUMNS = ("participant", "started_at", "completed_at", "degree", "cv_experience_years",
                        "attention_passed", "attention_total", "outcome", "consent_version")
RECRUITMENT_COLUMNS = ("participant", "source", "external_id", "external_session", "outcome", "completion_code",
                       "started_at", "completed_at")
STIMULI_COLUMNS = ("image", "dataset", "class_name", "model", "predicted_class", "confidence", *METRIC_NAMES, "method")
# A side-by-side page's maps in page order (Map 1, 2, 3, 4): choices.csv's map columns, balance.csv's positions and
# the Trial's fields. A page shows the first 2, 3 or 4: on a two-map page Map 2 is `middle` and `right` is empty.
SIDE_BY_SIDE_SLOTS = ("left", "middle", "right", "fourth")
# The design's balance (studyapp.balance): per page kind, image, condition (model, method) and position, the
# participants whose plan shows it (`planned`) and those who answered it. `position` is empty for rating pages
# and left/middle/right/fourth (SIDE_BY_SIDE_SLOTS) for side-by-side pages. A study of task blocks adds a
# `condition` row per task condition: its participants (`planned`) and those who answered a task page.
BALANCE_COLUMNS = ("page", "image", "model", "method", "position", "planned", "answered")
# plan_study's power.csv (analysis/power.py): one row per test, comparison and sample size; a model x method
# plan adds the factor whose levels the comparison names (a level pair, or the factor's main effect). A task plan
# (--task-accuracy) has the same columns: its comparisons are explanation conditions against their model's no-map
# control (e.g. "N×VG-none"), its participants all conditions' together.
POWER_COLUMNS = ("test", "comparison", "participants", "power", "simulations")
FACTORIAL_POWER_COLUMNS = ("test", "factor", "comparison", "participants", "power", "simulations")


# A between-participants condition's text form everywhere (export, study file, admin, report): a map's cell,
# e.g. "M2×IG", or NO_MAP_CONDITION for the no-map control (which still belongs to a model: see TASKS_COLUMNS).
CONDITION_FORMAT = "{model}×{method}"
NO_MAP_CONDITION = "none"


def condition_name(model, method):
    """The condition (cell) of a model's maps by a method, e.g. condition_name("M2", "IG") == "M2×IG"."""
    return CONDITION_FORMAT.format(model=model, method=method)


def image_id(dataset, test_index, source_pk):
    """The export's name of a source image: `<dataset>-<test index>`; an imported image without a test index is
    `<dataset>-id<its record's id>`."""
    return f"{dataset}-{test_index}" if test_index is not None else f"{dataset}-id{source_pk}"


# Issue 29: the blocks of a study with a right answer, their phases and scored questions. A block is one part of
# a study run in order; rating and choice blocks are today's pages, the task blocks write tasks.csv.
RATING_BLOCK, CHOICE_BLOCK = "rating", "choice"
DISTINCTION, SIMULATION, VERIFICATION = "distinction", "simulation", "verification"
TASKS = (DISTINCTION, SIMULATION, VERIFICATION)
BLOCK_KINDS = (RATING_BLOCK, CHOICE_BLOCK, *TASKS)
LEARN, TEST = "learn", "test"  # the phases of a simulation block; the other blocks have none ("")
PHASES = (LEARN, TEST)
# The scored questions: distinction Q1 (the model's top-1 class) and Q2 (the true class), simulation ("what will
# the model say?") and verification (accept or reject the model's label).
PREDICTED, TRUE_CLASS, MODEL_OUTPUT, ACCEPT = "predicted", "true", "model_output", "accept"
QUESTIONS = (PREDICTED, TRUE_CLASS, MODEL_OUTPUT, ACCEPT)
TASK_QUESTIONS = {DISTINCTION: (PREDICTED, TRUE_CLASS), SIMULATION: (MODEL_OUTPUT,), VERIFICATION: (ACCEPT,)}
TASK_PHASES = {DISTINCTION: ("",), SIMULATION: PHASES, VERIFICATION: ("",)}
# A verification page's options, in this order; `accept` is right iff the model is right on the image.
VERIFICATION_OPTIONS = ("accept", "reject")
OPTION_SEPARATOR = LIST_SEPARATOR  # tasks.csv's `options` (and the stimuli's class lists) join their items with it
CONFIDENCE_LEVELS = (1, 2, 3, 4, 5)
CONFIDENCE_LABELS = ("Not confident at all", "Slightly confident", "Moderately confident", "Very confident",
                     "Completely confident")

# tasks.csv: one row per answer to a scored question (a distinction page with question 2 gives two rows; a
# learning page gives a row only when it asks for a guess). `condition` is NO_MAP_CONDITION or condition_name(model,
# method); `model` is the model whose answers the task is about, also for a control; `method` is empty for a
# control. `correct` is 1 iff answer == correct_answer; `model_correct` 1 iff model_prediction == class_name.
TASKS_COLUMNS = ("participant", "block", "task", "phase", "condition", "model", "method", "image", "dataset",
                 "class_name", "trial", "question", "options", "answer", "correct_answer", "correct", "confidence",
                 "model_prediction", "model_correct", "rt_ms", "page_hides", "answered_at")

# bonus.csv's two columns, written without a header row (Prolific's bulk bonus takes `<Prolific ID>,<amount>` lines):
# the participant's platform ID and the bonus with two decimals.
BONUS_COLUMNS = ("external_id", "bonus")

# Issue 20 (console): columns appended to the files above, in this order (existing columns keep their places).
RATINGS_COLUMNS += ("page_hides",)
CHOICES_COLUMNS += ("page_hides",)
# Issue 27: side-by-side pages of 2 to 4 maps. `map_count` is how many the page showed (on a two-map page `right`
# and `right_method` are empty); `fourth` and `fourth_method` are Map 4's, empty unless the page showed four.
CHOICES_COLUMNS += ("map_count", "fourth", "fourth_method")
PARTICIPANTS_DECISION_COLUMNS = ("excluded", "exclusion_reason")
PARTICIPANTS_FLAG_COLUMNS = ("speeder", "total_seconds", "speeder_cutoff_seconds", "fast_pages", "straight_lining",
                             "straightlining_share", "attention_failed", "attention_rejectable", "page_hides")
# When the pages before the trials were submitted (started_at is the consent's): each page's time, as the
# console's medians take it, can be computed from the export.
PARTICIPANTS_STEP_COLUMNS = ("instructions_read_at", "background_given_at")
PARTICIPANTS_COLUMNS += PARTICIPANTS_DECISION_COLUMNS + PARTICIPANTS_FLAG_COLUMNS + PARTICIPANTS_STEP_COLUMNS
REVIEW_COLUMNS = ("participant", "source", "external_id", "external_session", "outcome", "action", "reason")
# Issue 27: how each map was drawn (saliency.rendering) and the method's settings as the researcher gave them.
STIMULI_RENDERING_COLUMNS = ("rendering", "scaling", "settings")
STIMULI_COLUMNS += STIMULI_RENDERING_COLUMNS
# Issue 29: the class each map explains, its rank and probability, the model's top classes and their probabilities
# (saliency.names.TARGET_FIELDS; lists joined by OPTION_SEPARATOR), then the image's true class (class_name, under
# the name the task pages give it). Rating and side-by-side pages show the maps of rank PREDICTION_RANK only.
STIMULI_TARGET_COLUMNS = (*TARGET_FIELDS, "true_class")
STIMULI_COLUMNS += STIMULI_TARGET_COLUMNS
APPROVE, MAY_REJECT, REQUEST_RETURN = "approve", "may_reject", "request_return"  # review.csv's actions

# Columns appended after a file's first release, with the value a file written before them means: an export
# without them is read as it was meant (every study then showed Vanilla Gradient maps, three side by side; nobody
# was excluded; page hides, flags and the pages' submission times were not recorded; every map was drawn
# sequentially on its own range, and no settings were recorded; every map explained the model's prediction, its top
# classes not recorded).
DEFAULT_METHOD = "VG"
APPENDED_COLUMNS = {
    RATINGS_FILE: {"method": DEFAULT_METHOD, "page_hides": None},
    CHOICES_FILE: {"left_method": DEFAULT_METHOD, "middle_method": DEFAULT_METHOD, "right_method": DEFAULT_METHOD,
                   "chosen_method": DEFAULT_METHOD, "page_hides": None, "map_count": 3, "fourth": None,
                   "fourth_method": None},
    STIMULI_FILE: {"method": DEFAULT_METHOD, "rendering": DEFAULT_RENDERING, "scaling": DEFAULT_SCALING,
                   "settings": "{}", **dict.fromkeys(STIMULI_TARGET_COLUMNS, ""), TARGET_RANK: PREDICTION_RANK,
                   "target_probability": None},
    PARTICIPANTS_FILE: {"excluded": "", "exclusion_reason": "", **dict.fromkeys(PARTICIPANTS_FLAG_COLUMNS),
                        **dict.fromkeys(PARTICIPANTS_STEP_COLUMNS)},
}

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
NO_CONSENT = "no_consent"
ATTENTION_FAILED = "attention_failed"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"
ERASED = "erased"
OUTCOMES = (IN_PROGRESS, COMPLETED, NO_CONSENT, ATTENTION_FAILED, EXPIRED, WITHDRAWN, ERASED)
DELETED_OUTCOMES = (WITHDRAWN, ERASED)  # answers and background deleted: counted, never analysed

# RFC 4180: with "\n" alone, Python's csv writer would leave a cell holding a bare carriage return unquoted.
CSV_LINE_END = "\r\n"

# A text cell starting with one of these gets one leading `'`, so that a spreadsheet shows it as text
# instead of running it; a text that itself starts with `'` is prefixed too, so the guard can be undone exactly.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def guard_formula(text):
    """Prefix `'` to a cell a spreadsheet would otherwise evaluate; anything but such a text passes unchanged."""
    if isinstance(text, str) and text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def guard_formulas(cells):
    """guard_formula over a list of texts, inlined: the report writes millions of cells."""
    return ["'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell for cell in cells]


def unguard_formulas(cells):
    """Undo the guard on a list of texts: drop one leading `'` before a trigger character."""
    return [cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_TRIGGERS else cell
            for cell in cells]
