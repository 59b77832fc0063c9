"""Read and check the files that `manage.py export_responses` writes (or the same frames from the database).

Every check names the file, the data rows and what is wrong, so the researcher can fix the export
instead of getting a silently wrong report. Row numbers are 1-based data rows: row 1 is the first
line after the header (choices.csv may hold justifications spanning several file lines).
"""

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from studyapp.schema import (
    APPENDED_COLUMNS, CHOICES_COLUMNS, CHOICES_FILE, DELETED_OUTCOMES, METRIC_NAMES, OUTCOMES, PARTICIPANTS_COLUMNS,
    PARTICIPANTS_FILE, RATINGS_COLUMNS, RATINGS_FILE, STIMULI_COLUMNS, STIMULI_FILE, TASKS_FILE, unguard_formulas,
)
from studyapp.schema import COMPLETED, PARTICIPANTS_FLAG_COLUMNS, PARTICIPANTS_STEP_COLUMNS
from studyapp.schema import (
    ACCEPT, CONFIDENCE_LEVELS, LEARN, MODEL_OUTPUT, NO_MAP_CONDITION, OPTION_SEPARATOR, PREDICTED, TASK_PHASES,
    TASK_QUESTIONS, TASKS, TASKS_COLUMNS, TRUE_CLASS, VERIFICATION, VERIFICATION_OPTIONS, condition_name,
)
from studyapp.schema import CONDITION_FORMAT  # noqa: F401 (see the cells' comment below)
from studyapp.schema import SIDE_BY_SIDE_SLOTS
from studyapp.randomization import MAX_MAPS, MIN_MAPS
from studyapp.schema import PREDICTION_RANK, TARGET_RANK

# participants.csv as the analysis reads it: the flags and the pages' times are for people (the console, the
# review); the analysis uses the researcher's decisions (`excluded`, `exclusion_reason`) and the attention tally.
PARTICIPANTS_USED = tuple(c for c in PARTICIPANTS_COLUMNS
                          if c not in PARTICIPANTS_FLAG_COLUMNS + PARTICIPANTS_STEP_COLUMNS)

# The participant flow's fixed steps (select_sample; the flow table and figure): the main line from arrival to
# analysis, and the split of those with answers kept into who completed and who did not. Every other step is
# participants leaving the line (withdrawn or erased, excluded by reason, no rating in the analysis).
FLOW_ARRIVED, FLOW_CONSENTED, FLOW_KEPT, FLOW_ANALYSED = "Arrived", "Consented", "With answers kept", "Analysed"
FLOW_MAIN = (FLOW_ARRIVED, FLOW_CONSENTED, FLOW_KEPT, FLOW_ANALYSED)
FLOW_SPLIT = ("Completed", "Did not complete, answers kept")
FLOW_DELETED = "Withdrew or erased (answers deleted)"
FLOW_UNRATED = "No rating in the analysis (none given yet, or only of models not compared)"
FLOW_NO_ANSWER = "No rating or task answer in the analysis (none given yet, or only ratings of models not compared)"
# Who each fixed step counts, as the report's flow table says it (participants.csv's columns in brackets). The
# steps of exclusion name their rule: each counts, among those still in, the participants it leaves out.
FLOW_DEFINITIONS = {
    FLOW_ARRIVED: "Every participant of the export (one row of participants.csv): each study-link visitor or invitee "
                  "given a pseudonym, whether they went on or not.",
    FLOW_CONSENTED: "Those who gave consent (started_at set: the study's start for them), including those who later "
                    "withdrew.",
    FLOW_DELETED: "Those who consented, then withdrew or had their data erased (outcome withdrawn or erased): "
                  "their answers were deleted.",
    FLOW_SPLIT[0]: "Those who finished every page (outcome completed).",
    FLOW_SPLIT[1]: "Those who consented and did not finish, with their answers kept (outcome in_progress, expired "
                   "or attention_failed).",
    FLOW_KEPT: "Consented minus withdrew or erased: completed plus did not complete. The sample's 'consented with "
               "answers kept'.",
    FLOW_UNRATED: "Those still in after the exclusions who have no rating of the models compared.",
    FLOW_NO_ANSWER: "Those still in after the exclusions who have neither a rating of the models compared nor a task "
                    "answer.",
    FLOW_ANALYSED: "Those with at least one rating (or, in a study with tasks, one task answer) in the tables below.",
}
FLOW_EXCLUSION = "Those still in whom this rule leaves out (each participant counted once, at the first rule that applies)."

# The built-in variants come first, in this order; imported models' names follow, sorted (order_models).
MODEL_ORDER = ("N", "A", "M1", "M2", "G")
METHOD_ORDER = ("VG", "IG", "SG", "GradCAM")
# A side-by-side page's maps in page order (Map 1 to Map 4): a page of map_count maps fills the first map_count sides
# (on a two-map page Map 2 is `middle`), each with its model and method, and leaves the others empty.
SIDES = SIDE_BY_SIDE_SLOTS
SIDE_METHODS = {side: f"{side}_method" for side in SIDES}
# A map shown in a study is the cell (model, method); when a study shows more than one method, the analysis
# compares cells, each named schema.condition_name(model, method), e.g. "M2×IG" (CONDITION_FORMAT, imported here
# from studyapp.schema, where the name moved, so that analysis modules may still take it from this module).
STATEMENTS = ("sufficiency", "trust")
LIKERT_LEVELS = (1, 2, 3, 4, 5)

# Columns the analysis uses; the rest of each file is checked for presence only.
RATINGS_USED = ("participant", "image", "dataset", "class_name", "model", "sufficiency", "trust", "method", "trial")
CHOICES_USED = ("participant", "image", "dataset", "class_name", "left", "middle", "right",
                "chosen_model", "justification", "left_method", "middle_method", "right_method", "chosen_method",
                "map_count", "fourth", "fourth_method")
STIMULI_USED = ("image", "model", *METRIC_NAMES, "method")
# stimuli.csv's rank of the map's target class (issue 29: the top-k maps of a distinction page): read where the
# file has it (an older file: every map is of rank 1); the analysis joins answers and ratings to the maps of the
# model's prediction, rank PREDICTION_RANK.
# tasks.csv as the analysis reads it (rt_ms, page_hides and answered_at are checked for presence only). Every text
# column is read as text (a class may be named "3"); the class names carry the export's formula guard.
TASKS_USED = ("participant", "block", "task", "phase", "condition", "model", "method", "image", "dataset",
              "class_name", "trial", "question", "options", "answer", "correct_answer", "correct", "confidence",
              "model_prediction", "model_correct")
TASKS_TEXT = ("participant", "task", "phase", "condition", "model", "method", "image", "dataset", "class_name",
              "question", "options", "answer", "correct_answer", "model_prediction")
TASKS_GUARDED = ("class_name", "options", "answer", "correct_answer", "model_prediction")
# The right option of each question, from the row's facts (see TASKS_COLUMNS in studyapp.schema).
RIGHT_ANSWER_RULES = {PREDICTED: "the model's prediction", MODEL_OUTPUT: "the model's prediction",
                      TRUE_CLASS: "the true class (class_name)",
                      ACCEPT: f"{VERIFICATION_OPTIONS[0]} where the model is right, else {VERIFICATION_OPTIONS[1]}"}
CATEGORY_COLUMNS = ("participant", "image", "dataset", "class_name", "model",
                    "left", "middle", "right", "fourth", "chosen_model", "method",
                    "left_method", "middle_method", "right_method", "fourth_method", "chosen_method")

ROWS_SHOWN = 10


class InputError(ValueError):
    """Bad input: the message says which file, which rows and what is wrong."""


@dataclass
class StudyData:
    ratings: pd.DataFrame
    choices: pd.DataFrame
    participants: pd.DataFrame | None
    sources: dict = field(default_factory=dict)  # "ratings" -> the file name used in messages
    stimuli: pd.DataFrame | None = None  # stimuli.csv: each stimulus's explanation metrics
    tasks: pd.DataFrame | None = None  # tasks.csv: the answers of the task blocks (None: the study has none)


@dataclass
class Sample:
    """Who is in the analysis: the numbers the report states first."""

    participants: int
    started: int | None
    completed: int | None
    excluded: list
    analysed: int
    ratings: int
    choices: int
    models: list
    exclusion_rule: str
    outcomes: dict | None = None  # participants per outcome (from participants.csv), in OUTCOMES order
    flow: list = field(default_factory=list)  # (step, participants), CONSORT-style, "Analysed" last
    exclusions: dict = field(default_factory=dict)  # excluded participant -> the flow's step that left them out


def format_rows(positions, limit=ROWS_SHOWN):
    """1-based data row numbers from 0-based positions, shortened after `limit`."""
    rows = [str(int(p) + 1) for p in positions[:limit]]
    more = len(positions) - limit
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def format_names(names, limit=ROWS_SHOWN):
    """Names joined by commas, shortened after `limit`."""
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def read_csv(path, columns, used, label, appended=None, text=(), optional=()):
    """Read one export file, keeping only `used` columns, or raise InputError naming what is wrong.

    `appended`: columns added after the file's first release and the value a file without them means; `text`:
    columns read as text whatever they hold; `optional`: columns kept too where the file has them."""
    appended = appended or {}
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        raise InputError(f"{label} ({path}): cannot read the file: {error.strerror or error}.") from error
    if not head.strip():
        raise InputError(f"{label} ({path}): the file is empty; expected a header line "
                         f"{','.join(columns)} and one row per answer.")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8").columns
        missing = [c for c in columns if c not in header and c not in appended]
        if missing:
            raise InputError(f"{label} ({path}): missing column(s) {', '.join(missing)} in the header line; "
                             f"found {', '.join(map(str, header))}. Expected exactly: {','.join(columns)}.")
        # Only the used columns are parsed (parsing answered_at as well takes 4x as long). pandas then
        # ignores fields beyond the header's; a row shifted by an unquoted comma fails the value checks.
        used = tuple(used) + tuple(c for c in optional if c in header)
        frame = pd.read_csv(
            path, usecols=[c for c in used if c in header], encoding="utf-8", keep_default_na=False, na_values=[""],
            dtype={c: "category" for c in used if c in CATEGORY_COLUMNS} | {c: str for c in text},
        )
    except UnicodeDecodeError as error:
        raise InputError(f"{label} ({path}): the file is not UTF-8 text (byte {error.start}: "
                         f"{error.reason}). Export it again or save it as UTF-8.") from error
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = found.groups()
            raise InputError(f"{label} ({path}): file line {line} has {saw} fields, the header has {expected}. "
                             "Quote cells that contain commas.") from error
        raise InputError(f"{label} ({path}): not a readable CSV file: {error}") from error
    except (OSError, ValueError) as error:
        raise InputError(f"{label} ({path}): not a readable CSV file: {error}") from error
    return with_appended(frame, appended)[list(used)]


def with_appended(frame, appended):
    """The frame with each missing appended column filled with the value a file without it means."""
    missing = {column: value for column, value in appended.items() if column not in frame.columns}
    return frame.assign(**missing) if missing else frame


def read_export(ratings_path, choices_path, participants_path=None, stimuli_path=None, tasks_path=None):
    """The export files, read and checked. A study of task blocks only may leave out ratings.csv and choices.csv
    (None): it has no rating or side-by-side pages."""
    sources = {}
    if ratings_path is None and choices_path is None and tasks_path is not None:
        ratings, choices = no_answers(RATINGS_USED), no_answers(CHOICES_USED)
    else:
        sources |= {"ratings": str(ratings_path), "choices": str(choices_path)}
        ratings = read_csv(ratings_path, RATINGS_COLUMNS, RATINGS_USED, "ratings", APPENDED_COLUMNS[RATINGS_FILE])
        choices = read_csv(choices_path, CHOICES_COLUMNS, CHOICES_USED, "choices", APPENDED_COLUMNS[CHOICES_FILE])
    participants = stimuli = tasks = None
    if participants_path is not None:
        sources["participants"] = str(participants_path)
        participants = read_csv(participants_path, PARTICIPANTS_COLUMNS, PARTICIPANTS_USED, "participants",
                                APPENDED_COLUMNS[PARTICIPANTS_FILE])
    if stimuli_path is not None:
        sources["stimuli"] = str(stimuli_path)
        stimuli = read_csv(stimuli_path, STIMULI_COLUMNS, STIMULI_USED, "stimuli", APPENDED_COLUMNS[STIMULI_FILE],
                           optional=(TARGET_RANK,))
    if tasks_path is not None:
        sources["tasks"] = str(tasks_path)
        tasks = read_csv(tasks_path, TASKS_COLUMNS, TASKS_USED, "tasks", text=TASKS_TEXT)
    return check_study_data(StudyData(ratings, choices, participants, sources, stimuli, tasks))


def no_answers(columns):
    """An answer file with its header and no rows (a study without such pages)."""
    return pd.DataFrame({c: pd.Series(dtype="category" if c in CATEGORY_COLUMNS else object) for c in columns})


def read_ratings(ratings_path):
    """ratings.csv alone (a pilot's, for plan_study), read and checked as read_export checks it."""
    ratings = read_csv(ratings_path, RATINGS_COLUMNS, RATINGS_USED, "ratings", APPENDED_COLUMNS[RATINGS_FILE])
    return check_study_data(StudyData(ratings, no_answers(CHOICES_USED), None,
                                      {"ratings": str(ratings_path)})).ratings


def has_metrics(stimuli):
    """Whether some stimulus carries an explanation metric (stimuli made before the metrics have none)."""
    return bool(stimuli[list(METRIC_NAMES)].notna().any(axis=None))


def rated_stimuli(stimuli, ratings, tasks=None):
    """The stimuli rows of images rated or shown in a task block. Mid-study, some of a study's images have no answer
    yet: the metrics section covers those answered (a stimuli.csv file given by hand must still match its ratings.csv
    exactly)."""
    rated = set(ratings["image"].astype(str)) | (set(tasks["image"].astype(str)) if tasks is not None else set())
    return stimuli[stimuli["image"].astype(str).isin(rated).to_numpy()].reset_index(drop=True)


def from_export_frames(frames, source):
    """The frames of studyapp.export.export_frames (keyed by file name), checked like the files (stimuli
    without metrics, as imported maps are, included: the report then says why it has no metrics section)."""
    sources = {name: source for name in ("ratings", "choices", "participants", "stimuli", "tasks")}
    stimuli = frames.get(STIMULI_FILE)
    tasks = frames.get(TASKS_FILE)
    if stimuli is not None:
        stimuli = rated_stimuli(stimuli, frames[RATINGS_FILE], tasks)
    return check_study_data(StudyData(frames[RATINGS_FILE], frames[CHOICES_FILE], frames[PARTICIPANTS_FILE],
                                      sources, stimuli, tasks))


def check_columns(frame, columns, label):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{label}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}.")


def as_categories(frame):
    """Identifier and code columns as categoricals (the database path gives plain strings; '' is missing)."""
    frame = frame.copy()
    for column in CATEGORY_COLUMNS:
        if column in frame.columns and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("string").str.strip().replace("", pd.NA).astype("category")
    return frame


def order_names(names, built_in):
    """Names in a fixed order: the built-in ones in `built_in`'s order, then any others sorted."""
    names = {str(n) for n in names}
    return [n for n in built_in if n in names] + sorted(names - set(built_in))


def order_models(names):
    """Variants in report order: the built-in codes in MODEL_ORDER's order, then imported models' names sorted."""
    return order_names(names, MODEL_ORDER)


def order_methods(names):
    return order_names(names, METHOD_ORDER)


def map_keys(frame, pairs):
    """One integer per shown map, comparable across the (model, method) column pairs `pairs`; -1 where a cell is
    missing. Returns an array of shape (rows, len(pairs))."""
    keys = []
    for model, method in pairs:
        text = frame[model].astype("string") + "\x1f" + frame[method].astype("string")
        keys.append(text)
    codes, _ = pd.factorize(pd.concat(keys, ignore_index=True), use_na_sentinel=True)
    return codes.reshape(len(pairs), len(frame)).T


def shown_sides(choices, label, problems):
    """`map_count` as int64 (a whole number MIN_MAPS-MAX_MAPS), and each page's maps as it says: a model and a
    method in each of the first map_count SIDES and in no other (a file without map_count: three maps, left to
    right). Records every row that disagrees (a row whose map_count is no such number: that alone)."""
    count = pd.to_numeric(choices["map_count"], errors="coerce").astype("float64").to_numpy()
    whole_numbers(choices, "map_count", label, problems, MIN_MAPS, MAX_MAPS)  # names the rows outside
    known = (count % 1 == 0) & (count >= MIN_MAPS) & (count <= MAX_MAPS)
    expected = np.arange(len(SIDES)) < np.nan_to_num(count)[:, None]
    models = np.column_stack([choices[side].notna().to_numpy() for side in SIDES])
    methods = np.column_stack([choices[SIDE_METHODS[side]].notna().to_numpy() for side in SIDES])
    rows = np.flatnonzero(known & ((models != expected) | (methods != expected)).any(axis=1))
    if len(rows):
        def filled(row):
            sides = [side + ("" if methods[row, i] else " (no method)") for i, side in enumerate(SIDES)
                     if models[row, i]]
            sides += [f"{SIDE_METHODS[side]} without a model" for i, side in enumerate(SIDES)
                      if methods[row, i] and not models[row, i]]
            return f"map_count {int(count[row])} with {', '.join(sides) or 'no map'}"

        found = sorted(dict.fromkeys(filled(row) for row in rows[:ROWS_SHOWN]))
        problems.append(f"{label}: a page of map_count maps shows them in the first map_count of "
                        f"{', '.join(SIDES)} (model and method each) and leaves the others empty; data rows "
                        f"{format_rows(rows)} do not ({'; '.join(found)}).")


def missing_values(frame, columns, label, problems):
    for column in columns:
        rows = np.flatnonzero(frame[column].isna().to_numpy())
        if len(rows):
            problems.append(f"{label}: empty '{column}' in data rows {format_rows(rows)}.")


def whole_numbers(frame, column, label, problems, low, high=None, may_be_empty=None):
    """Replace `column` by int64 values, recording rows that are not whole numbers in [low, high]; where
    `may_be_empty` (a row mask) allows an empty value, the column becomes float64 with NaN there."""
    values = frame[column]
    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    numbers = numbers.astype("float64")
    empty = values.isna() | (values.astype("string").str.strip() == "")
    bad = numbers.isna() | (numbers % 1 != 0) | (numbers < low)
    if may_be_empty is not None:
        bad &= ~(empty & np.asarray(may_be_empty, dtype=bool))
    if high is not None:
        bad |= numbers > high
    rows = np.flatnonzero(bad.to_numpy())
    if len(rows):
        shown = ", ".join(repr("" if pd.isna(v) else str(v)) for v in values.iloc[rows[:ROWS_SHOWN]])
        wanted = f"whole numbers {low}-{high}" if high is not None else f"whole numbers >= {low}"
        problems.append(f"{label}: '{column}' must hold {wanted}; data rows {format_rows(rows)} "
                        f"hold {shown}.")
        return
    frame[column] = numbers if numbers.isna().any() else numbers.astype("int64")


def repeated_answers(frame, keys, label, what, problems):
    """Record groups of rows with the same `keys` (categorical columns without missing values)."""
    codes = [frame[k].cat.codes.to_numpy(np.int64) for k in keys]
    key = np.ravel_multi_index(codes, [max(len(frame[k].cat.categories), 1) for k in keys])
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    groups = frame.loc[repeated, list(keys)].astype(str).assign(row=frame.index[repeated] + 1)
    grouped = groups.groupby(list(keys), sort=False)
    lines = []
    for values, group in list(grouped)[:ROWS_SHOWN]:
        names = ", ".join(f"{k}={v}" for k, v in zip(keys, values))
        lines.append(f"{names} in data rows {', '.join(map(str, group['row']))}")
    more = grouped.ngroups - len(lines)
    problems.append(f"{label}: {what} more than once: " + "; ".join(lines)
                    + (f"; and {more} more" if more > 0 else "") + ".")


def strip_formula_guard(text):
    """Undo the exporter's spreadsheet guard: drop one leading quote before = + - @ tab, CR or a quote."""
    cells = ["" if t is None or t != t else str(t) for t in text.tolist()]
    return pd.Series(unguard_formulas(cells), index=text.index, dtype=object)


def check_study_data(data):
    """Check the three frames (from files or the database); raise InputError listing every problem."""
    label = {k: f"{k} ({data.sources[k]})" if k in data.sources else k
             for k in ("ratings", "choices", "participants", "stimuli", "tasks")}
    given_ratings = with_appended(data.ratings, APPENDED_COLUMNS[RATINGS_FILE])
    given_choices = with_appended(data.choices, APPENDED_COLUMNS[CHOICES_FILE])
    check_columns(given_ratings, RATINGS_USED, label["ratings"])
    check_columns(given_choices, CHOICES_USED, label["choices"])
    if data.tasks is not None:
        check_columns(data.tasks, TASKS_USED, label["tasks"])
    has_tasks = data.tasks is not None and len(data.tasks) > 0  # a header only: a study without task blocks
    if len(given_ratings) == 0 and not has_tasks:
        raise InputError(f"{label['ratings']}: no ratings (a header but no data rows).")
    ratings = as_categories(given_ratings[list(RATINGS_USED)])
    choices = as_categories(given_choices[list(CHOICES_USED)])
    problems = []

    missing_values(ratings, ("participant", "image", "dataset", "model", "method"), label["ratings"], problems)
    # Model and method names are free text; a row shifted by an unquoted comma still shows as a non-number
    # where the trial number belongs.
    whole_numbers(ratings, "trial", label["ratings"], problems, 1)
    for statement in STATEMENTS:
        whole_numbers(ratings, statement, label["ratings"], problems, LIKERT_LEVELS[0], LIKERT_LEVELS[-1])
    complete = ratings.dropna(subset=["participant", "image", "model", "method"])
    if complete["method"].nunique() > 1:
        repeated_answers(complete, ("participant", "image", "model", "method"), label["ratings"],
                         "the same participant rated the same image, model and method", problems)
    else:
        repeated_answers(complete, ("participant", "image", "model"), label["ratings"],
                         "the same participant rated the same image and model", problems)

    missing_values(choices, ("participant", "image", "dataset", "chosen_model", "chosen_method"), label["choices"],
                   problems)
    shown_sides(choices, label["choices"], problems)
    keys = map_keys(choices, [(side, SIDE_METHODS[side]) for side in SIDES] + [("chosen_model", "chosen_method")])
    shown, chosen = keys[:, :-1], keys[:, -1]
    rows = np.flatnonzero((chosen >= 0) & ~(shown == chosen[:, None]).any(axis=1))
    if len(rows):
        problems.append(f"{label['choices']}: chosen_model (with chosen_method) is not one of the maps shown "
                        f"({'/'.join(SIDES)}) in data rows {format_rows(rows)}.")
    twice = np.zeros(len(choices), dtype=bool)
    for i, j in itertools.combinations(range(len(SIDES)), 2):
        twice |= (shown[:, i] >= 0) & (shown[:, i] == shown[:, j])
    rows = np.flatnonzero(twice)
    if len(rows):
        problems.append(f"{label['choices']}: the same map (model and method) is shown twice ({'/'.join(SIDES)}) in "
                        f"data rows {format_rows(rows)}.")
    repeated_answers(choices.dropna(subset=["participant", "image"]), ("participant", "image"), label["choices"],
                     "the same participant chose for the same image", problems)
    choices["justification"] = strip_formula_guard(choices["justification"])
    for frame in (ratings, choices):
        names = frame["class_name"].cat.categories
        frame["class_name"] = frame["class_name"].map(dict(zip(names, strip_formula_guard(pd.Series(names))))) \
            .astype("category")

    tasks = check_tasks(data.tasks, label["tasks"], problems) if has_tasks else None
    answers = {"ratings": ratings, "choices": choices} | ({"tasks": tasks} if has_tasks else {})

    participants = data.participants
    if participants is not None:
        participants = with_appended(participants, APPENDED_COLUMNS[PARTICIPANTS_FILE])
        check_columns(participants, PARTICIPANTS_USED, label["participants"])
        participants = as_categories(participants[list(PARTICIPANTS_USED)])
        participants = decisions(participants, label["participants"], problems)
        if len(participants) == 0:
            problems.append(f"{label['participants']}: no participants (a header but no data rows).")
        missing_values(participants, ("participant",), label["participants"], problems)
        repeated_answers(participants.dropna(subset=["participant"]), ("participant",), label["participants"],
                         "a participant is listed", problems)
        for column in ("attention_passed", "attention_total"):
            whole_numbers(participants, column, label["participants"], problems, 0)
        if all(participants[c].dtype == np.int64 for c in ("attention_passed", "attention_total")):
            rows = np.flatnonzero((participants["attention_passed"] > participants["attention_total"]).to_numpy())
            if len(rows):
                problems.append(f"{label['participants']}: attention_passed exceeds attention_total in data rows "
                                f"{format_rows(rows)}.")
        listed = participants["participant"].dropna().unique()
        for name, frame in answers.items():
            rows = np.flatnonzero(~frame["participant"].isin(listed).to_numpy() & frame["participant"].notna().to_numpy())
            if len(rows):
                problems.append(f"{label[name]}: participant(s) not listed in {label['participants']}, "
                                f"data rows {format_rows(rows)}.")
        deleted_outcomes(participants, answers, label, problems)

    stimuli = data.stimuli
    if stimuli is not None:
        stimuli = check_stimuli(stimuli, ratings, label.get("stimuli", "stimuli"), label["ratings"], problems,
                                tasks, label["tasks"])

    if problems:
        raise InputError("\n".join(problems))
    return StudyData(ratings, choices, participants, data.sources, stimuli, tasks)


TRUE_TEXTS, FALSE_TEXTS = {"true", "1"}, {"false", "0", ""}


def decisions(participants, label, problems):
    """`excluded` as booleans (absent or empty: not excluded) and `exclusion_reason` as text (formula guard undone)."""
    participants = participants.copy()
    if "excluded" not in participants.columns:
        participants["excluded"] = False
    else:
        text = participants["excluded"].astype("string").fillna("").str.strip().str.lower()
        bad = np.flatnonzero(~text.isin(TRUE_TEXTS | FALSE_TEXTS).to_numpy())
        if len(bad):
            problems.append(f"{label}: 'excluded' must be True or False (or empty); data rows {format_rows(bad)}.")
        participants["excluded"] = text.isin(TRUE_TEXTS).to_numpy()
    reasons = (participants["exclusion_reason"] if "exclusion_reason" in participants.columns
               else pd.Series("", index=participants.index))
    participants["exclusion_reason"] = strip_formula_guard(reasons.astype("string").fillna("").astype(object))
    return participants


def check_stimuli(stimuli, ratings, label, ratings_label, problems, tasks=None, tasks_label="tasks"):
    """stimuli.csv: numbers or empty cells for the metrics, one row per image, model and method, and a row for
    every rated image, model and method (the guard on names: they must match). Returns the checked frame
    (metrics as float64). Only the maps of the model's prediction are kept where the file names each map's target
    rank (the other ranks are a distinction page's maps). With task answers, each map shown in a task needs its
    row too, and the rows of images nobody was shown are left out (each participant sees a draw of the images)."""
    stimuli = with_appended(stimuli, APPENDED_COLUMNS[STIMULI_FILE])
    check_columns(stimuli, STIMULI_USED, label)
    if TARGET_RANK in stimuli.columns:
        rank = pd.to_numeric(stimuli[TARGET_RANK], errors="coerce")
        rows = np.flatnonzero((rank.isna() | (rank % 1 != 0) | (rank < 1)).to_numpy())
        if len(rows):
            problems.append(f"{label}: '{TARGET_RANK}' must hold whole numbers >= 1; data rows {format_rows(rows)}.")
        stimuli = stimuli[(rank == PREDICTION_RANK).to_numpy()].reset_index(drop=True)
    stimuli = as_categories(stimuli[list(STIMULI_USED)])
    missing_values(stimuli, ("image", "model", "method"), label, problems)
    for column in METRIC_NAMES:
        values = stimuli[column]
        numbers = values
        if not pd.api.types.is_numeric_dtype(values):
            text = values.astype("string").str.strip().fillna("")
            numbers = pd.to_numeric(text.replace("", None), errors="coerce")
            rows = np.flatnonzero((numbers.isna() & text.ne("")).to_numpy())
            if len(rows):
                problems.append(f"{label}: '{column}' must hold numbers (or nothing); data rows "
                                f"{format_rows(rows)} hold {', '.join(repr(t) for t in text.iloc[rows[:ROWS_SHOWN]])}.")
        stimuli[column] = numbers.astype("float64")
    complete = stimuli.dropna(subset=["image", "model", "method"])
    if complete["method"].nunique() > 1:
        repeated_answers(complete, ("image", "model", "method"), label, "the same image, model and method is listed",
                         problems)
    else:
        repeated_answers(complete, ("image", "model"), label, "the same image and model is listed", problems)
    listed = set(zip(*(complete[c].astype(str) for c in ("image", "model", "method"))))
    shown = ratings[["image", "model", "method"]].drop_duplicates()  # a few per image, not one per rating
    rated = set(zip(*(shown[c].astype(str) for c in ("image", "model", "method"))))
    unlisted = sorted(rated - listed)
    if unlisted:
        single = len({method for *_, method in rated | listed}) == 1
        shown = format_names([f"{image} {model}" + ("" if single else f" {method}")
                              for image, model, method in unlisted])
        what = "image and model" if single else "image, model and method"
        problems.append(f"{label}: no row for rated {what} {shown} of {ratings_label}; "
                        "export stimuli.csv from the same study as the ratings.")
    if tasks is not None:
        maps = tasks[tasks["condition"] != NO_MAP_CONDITION]
        unlisted = sorted(set(zip(*(maps[c] for c in ("image", "model", "method")))) - listed)
        if unlisted:
            problems.append(f"{label}: no row for image, model and method "
                            f"{format_names([' '.join(key) for key in unlisted])} shown in {tasks_label}; export "
                            "stimuli.csv from the same study as the task answers.")
        seen = {image for image, *_ in rated} | set(tasks["image"])
        return stimuli[stimuli["image"].astype(str).isin(seen).to_numpy()].reset_index(drop=True)
    unrated = sorted(set(complete["image"].astype(str)) - {image for image, *_ in rated})
    if unrated:
        problems.append(f"{label}: image(s) {format_names(unrated)} were never rated in "
                        f"{ratings_label}; export stimuli.csv from the same study as the ratings.")
    return stimuli


def refuse_values(frame, column, bad, wanted, label, problems, shown=None):
    """Record the data rows where `bad` holds: `column` must be `wanted`; the message quotes what they hold
    (`shown`: the rows' texts to quote instead of the column's)."""
    rows = np.flatnonzero(np.asarray(bad, dtype=bool))
    if len(rows):
        texts = (shown if shown is not None else frame[column].astype("string").fillna("")).iloc[rows[:ROWS_SHOWN]]
        found = ", ".join(sorted({repr(text) if shown is None else text for text in texts}))
        problems.append(f"{label}: '{column}' must be {wanted}; data rows {format_rows(rows)} hold {found}.")


def check_tasks(given, label, problems):
    """tasks.csv: the codes known (task, phase and question fit the task; the condition its model and method),
    the numbers whole and in range, the answer and the right answer among the options shown, `correct` and
    `model_correct` as the row's facts make them, each question about an image answered once per participant,
    block and phase, each participant in one condition and each block of one task. Returns the checked frame: text
    as str (formula guard undone; an empty phase or method is ""), the numbers as int64, and `n_options`."""
    tasks = given[list(TASKS_USED)].reset_index(drop=True)
    tasks = tasks.assign(**{c: tasks[c].astype("string").str.strip().fillna("").astype(object) for c in TASKS_TEXT})
    for column in TASKS_GUARDED:
        tasks[column] = strip_formula_guard(tasks[column])
    required = [c for c in TASKS_TEXT if c not in ("phase", "method")]
    missing_values(tasks[required].replace("", np.nan), required, label, problems)
    whole_numbers(tasks, "block", label, problems, 1)
    whole_numbers(tasks, "trial", label, problems, 1)
    # A learning page asks only for a guess (studyapp.forms): its rows have no confidence.
    whole_numbers(tasks, "confidence", label, problems, CONFIDENCE_LEVELS[0], CONFIDENCE_LEVELS[-1],
                  may_be_empty=tasks["phase"] == LEARN)
    for column in ("correct", "model_correct"):
        whole_numbers(tasks, column, label, problems, 0, 1)
    numbers = all(tasks[c].dtype == np.int64 for c in ("correct", "model_correct"))

    task = tasks["task"]
    known = task.isin(TASKS).to_numpy()
    refuse_values(tasks, "task", ~known & (task != "").to_numpy(), f"one of {', '.join(TASKS)}", label, problems)
    fits = {column: np.array([value in allowed.get(kind, (value,)) for kind, value in zip(task, tasks[column])])
            for column, allowed in (("phase", TASK_PHASES), ("question", TASK_QUESTIONS))}
    refuse_values(tasks, "phase", ~fits["phase"], "learn or test in a simulation block and empty in the others",
                  label, problems, shown=task + " " + tasks["phase"].map(repr))
    refuse_values(tasks, "question", ~fits["question"] & (tasks["question"] != "").to_numpy(),
                  "the task's: " + "; ".join(f"{kind}: {', '.join(q)}" for kind, q in TASK_QUESTIONS.items()),
                  label, problems, shown=task + " " + tasks["question"].map(repr))

    control = (tasks["condition"] == NO_MAP_CONDITION).to_numpy()
    cell = np.array([condition_name(model, method) for model, method in zip(tasks["model"], tasks["method"])])
    wrong = np.where(control, tasks["method"] != "", (tasks["method"] == "") | (tasks["condition"] != cell))
    refuse_values(tasks, "condition", wrong & (tasks["condition"] != "").to_numpy(),
                  f"{NO_MAP_CONDITION} (method empty) or the row's MODEL×METHOD", label, problems,
                  shown=tasks["condition"].map(repr) + " (model " + tasks["model"].map(repr) + ", method "
                  + tasks["method"].map(repr) + ")")

    options = tasks["options"].str.split(OPTION_SEPARATOR, regex=False)
    tasks["n_options"] = options.map(len)
    unfit = np.array([len(set(shown)) < max(len(shown), 2) or "" in shown
                      or (kind == VERIFICATION and set(shown) != set(VERIFICATION_OPTIONS))
                      for kind, shown in zip(task, options)])
    refuse_values(tasks, "options", unfit & (tasks["options"] != "").to_numpy(),
                  f"two or more different options joined by {OPTION_SEPARATOR} (verification: "
                  f"{OPTION_SEPARATOR.join(VERIFICATION_OPTIONS)})", label, problems)
    for column in ("answer", "correct_answer"):
        outside = [value != "" and value not in shown for value, shown in zip(tasks[column], options)]
        refuse_values(tasks, column, outside, "one of the options shown", label, problems)
    if numbers:
        refuse_values(tasks, "correct", tasks["correct"] != (tasks["answer"] == tasks["correct_answer"]),
                      "1 where answer equals correct_answer and 0 elsewhere", label, problems,
                      shown=tasks["correct"].astype(str))
        refuse_values(tasks, "model_correct",
                      tasks["model_correct"] != (tasks["model_prediction"] == tasks["class_name"]),
                      "1 where model_prediction equals class_name and 0 elsewhere", label, problems,
                      shown=tasks["model_correct"].astype(str))
        verdict = np.where(tasks["model_correct"] == 1, *VERIFICATION_OPTIONS)
        right = tasks["question"].map({PREDICTED: 0, MODEL_OUTPUT: 0, TRUE_CLASS: 1, ACCEPT: 2})
        expected = np.choose(right.fillna(0).astype(int), [tasks["model_prediction"], tasks["class_name"], verdict])
        refuse_values(tasks, "correct_answer", right.notna() & fits["question"] & (tasks["correct_answer"] != expected),
                      "the question's right option (" + "; ".join(f"{q}: {rule}" for q, rule in
                                                                 RIGHT_ANSWER_RULES.items()) + ")", label, problems)

    keys = ["participant", "block", "phase", "question", "image"]
    repeated_answers(tasks[keys].astype(str).astype("category"), keys, label,
                     "the same participant answered the same question about the same image in one block and phase",
                     problems)
    for key, what, why in ((["participant"], "condition", "conditions are between participants"),
                           (["block"], "task", "a block is of one task")):
        columns = ["condition", "model"] if what == "condition" else ["task"]
        pairs = tasks[key + columns].drop_duplicates()
        several = pairs[pairs.duplicated(key, keep=False)]
        if len(several):
            named = [f"{name} ({', '.join(sorted(' of '.join(row) for row in group[columns].astype(str).to_numpy()))})"
                     for name, group in several.groupby(key[0], sort=True)]
            problems.append(f"{label}: {key[0]}(s) {format_names(named)} hold answers of more than one {what}; "
                            f"{why}.")
    return tasks


def deleted_outcomes(participants, answers, label, problems):
    """Outcomes must be known ones, and withdrawn or erased participants must have no answers left in any of the
    `answers` frames (file name -> frame)."""
    outcome = participants["outcome"].astype("string")
    refuse_values(participants, "outcome", ~outcome.isin(OUTCOMES).to_numpy(), f"one of {', '.join(OUTCOMES)}",
                  label["participants"], problems)
    deleted = participants.loc[outcome.isin(DELETED_OUTCOMES).to_numpy(), "participant"].dropna().unique()
    for name, frame in answers.items():
        rows = np.flatnonzero(frame["participant"].isin(deleted).to_numpy())
        if len(rows):
            who = ", ".join(sorted(map(str, frame["participant"].iloc[rows].unique()))[:ROWS_SHOWN])
            problems.append(f"{label[name]}: data rows {format_rows(rows)} are answers of participants who withdrew "
                            f"or were erased ({who}); their answers may not be analysed. Export the study again.")


def kept_count(participants, column):
    """Participants with `column` set whose answers were kept (withdrawn and erased ones are counted by outcome
    alone, so that 'N completed' here is the outcomes' 'N completed'); None without participants.csv."""
    if participants is None:
        return None
    kept = ~participants["outcome"].astype("string").isin(DELETED_OUTCOMES).fillna(False)
    return int((participants[column].notna() & kept).sum())


def outcome_counts(participants):
    counts = participants["outcome"].astype("string").value_counts()
    return {outcome: int(counts[outcome]) for outcome in OUTCOMES if outcome in counts}


def present_models(ratings, order=None):
    """The models (or, with `order`, the cells) that have ratings, in report order."""
    present = ratings["model"].dropna().unique()
    if order is not None:
        return [name for name in order if name in set(present)]
    return order_models(present)


def as_conditions(data):
    """A study that shows more than one method is analysed by condition: each rating's `model` becomes its cell
    (schema.condition_name, e.g. "M2×IG"), and so do the choices' shown and chosen maps. A one-method study is
    returned unchanged. Cells are ordered by model (order_models), then method (order_methods)."""
    methods = order_methods(data.ratings["method"].dropna().unique())
    if len(methods) < 2:
        return data, None
    models = order_models(data.ratings["model"].dropna().unique())
    cells = {(m, k): condition_name(m, k) for m in models for k in methods}

    def relabel(frame, model, method):
        """The cells of a model and a method column; missing where the model is (a side the page left empty)."""
        shown = frame[model].notna().to_numpy()
        pairs = zip(frame[model].astype(str), frame[method].astype(str))
        labels = [cells.get(p, condition_name(*p)) if filled else None for p, filled in zip(pairs, shown)]
        present = set(labels) - {None}
        order = list(cells.values()) + sorted(present - set(cells.values()))
        return pd.Categorical(labels, categories=[c for c in order if c in present])

    ratings = data.ratings.copy()
    ratings["variant"] = ratings["model"]  # the factors stay: analysis.factorial reads variant and method
    ratings["model"] = relabel(ratings, "model", "method")
    choices = data.choices.copy()
    for side in SIDES:
        choices[side] = relabel(choices, side, SIDE_METHODS[side])
    choices["chosen_model"] = relabel(choices, "chosen_model", "chosen_method")
    stimuli = data.stimuli
    if stimuli is not None:
        stimuli = stimuli.copy()
        stimuli["model"] = relabel(stimuli, "model", "method")
    return StudyData(ratings, choices, data.participants, data.sources, stimuli, data.tasks), list(cells.values())


def select_sample(data, models=None, exclude_failed_attention=False, include_excluded=False, completed_only=False):
    """Apply the researcher's exclusions (left out unless `include_excluded`), --completed-only,
    --exclude-failed-attention and --models; return the data analysed and the Sample that says so, with its
    participant flow (CONSORT-style: each step's count, the analysed number last)."""
    data, cells = as_conditions(data)
    ratings, choices, participants, tasks = data.ratings, data.choices, data.participants, data.tasks
    excluded = []
    rules = []
    flow = []
    exclusions = {}
    if participants is None and completed_only:
        raise InputError("--completed-only needs the participants file (--participants participants.csv).")
    if participants is not None:
        outcome = participants["outcome"].astype("string")
        deleted = outcome.isin(DELETED_OUTCOMES).fillna(False)
        consented = participants["started_at"].notna()
        flow += [(FLOW_ARRIVED, len(participants)), (FLOW_CONSENTED, int(consented.sum())),
                 (FLOW_DELETED, int((consented & deleted).sum())),
                 (FLOW_SPLIT[0], int((outcome == COMPLETED).fillna(False).sum())),
                 (FLOW_SPLIT[1], int((consented & ~deleted & (outcome != COMPLETED).fillna(True)).sum())),
                 (FLOW_KEPT, int((consented & ~deleted).sum()))]
        remaining = participants.loc[(consented & ~deleted).to_numpy(), "participant"].astype(str)
        steps = []
        if completed_only:
            steps.append(("Left out: did not complete (--completed-only)",
                          set(participants.loc[(outcome != COMPLETED).fillna(True).to_numpy(), "participant"].astype(str))))
            rules.append("only completed participants are analysed (--completed-only)")
        if not include_excluded:
            marked = participants[participants["excluded"].to_numpy(dtype=bool)]
            for reason, group in marked.groupby(marked["exclusion_reason"].astype(str), sort=True):
                steps.append((f"Excluded by the researcher: {reason or '(no reason given)'}",
                              set(group["participant"].astype(str))))
            if len(marked):
                rules.append("participants the researcher excluded are left out (--include-excluded keeps them)")
        if exclude_failed_attention:
            failed = participants["attention_passed"] < participants["attention_total"]
            steps.append(("Excluded: failed at least one attention check (--exclude-failed-attention)",
                          set(participants.loc[failed.to_numpy(), "participant"].astype(str))))
            rules.append("participants who failed at least one attention check are excluded")
        left = set(remaining)
        for label, names in steps:
            gone = left & names
            flow.append((label, len(gone)))
            excluded += sorted(gone)
            exclusions.update(dict.fromkeys(sorted(gone), label))
            left -= gone
        excluded = sorted(set(excluded))
        ratings = ratings[~ratings["participant"].isin(excluded)]
        choices = choices[~choices["participant"].isin(excluded)]
        if tasks is not None:
            tasks = tasks[~tasks["participant"].isin(excluded)].reset_index(drop=True)
    elif exclude_failed_attention:
        raise InputError("--exclude-failed-attention needs the participants file (--participants participants.csv).")
    rule = "; ".join(rules) or "none"
    if models:
        if len(set(models)) != len(models):
            raise InputError(f"--models: a code is repeated in {' '.join(models)}.")
        present = present_models(ratings, cells)
        absent = [m for m in models if m not in present]
        if absent:
            after = " after excluding participants who failed attention checks" if excluded else ""
            raise InputError(f"ratings ({data.sources.get('ratings', 'ratings')}): no ratings of model(s) "
                             f"{', '.join(absent)}{after}, but --models asks for them; "
                             f"models with ratings: {', '.join(present) or 'none'}.")
        models = list(models)
    else:
        models = present_models(ratings, cells)
    if len(models) < 2 and not (tasks is not None and len(data.ratings) == 0):  # a study of task blocks only
        raise InputError(f"ratings ({data.sources.get('ratings', 'ratings')}): the analysis compares models and needs "
                         f"ratings of at least two; found {', '.join(models) or 'none'}.")
    ratings = ratings[ratings["model"].isin(models)].copy()
    ratings["model"] = ratings["model"].cat.set_categories(models)
    for column in ("participant", "image", "dataset", "class_name"):
        ratings[column] = ratings[column].cat.remove_unused_categories()
    people = set(ratings["participant"].unique()) | set(choices["participant"].unique())
    analysed = set(ratings["participant"].unique())
    if tasks is not None:  # those with a task answer are analysed too (their answers: the tasks section)
        people |= set(tasks["participant"])
        analysed |= set(tasks["participant"])
    sample = Sample(
        participants=len(participants) if participants is not None else len(people),
        started=kept_count(participants, "started_at"),
        completed=kept_count(participants, "completed_at"),
        excluded=excluded,
        analysed=len(analysed),
        ratings=len(ratings),
        choices=len(choices),
        models=models,
        exclusion_rule=rule,
        outcomes=outcome_counts(participants) if participants is not None else None,
        exclusions=dict(sorted(exclusions.items())),
    )
    if participants is not None:
        kept = flow[5][1] - sum(count for _, count in flow[6:])
        flow.append(((FLOW_NO_ANSWER if tasks is not None else FLOW_UNRATED), kept - sample.analysed))
        flow.append((FLOW_ANALYSED, sample.analysed))
    sample.flow = flow
    return StudyData(ratings, choices.reset_index(drop=True), participants, data.sources, data.stimuli,
                     tasks), sample
