"""A study's answers as pandas frames in the documented export schema (names in studyapp.schema).

The analysis app reads exactly these columns, from the CSV files that `manage.py
export_responses` writes or straight from these functions (`analyze --study S`); the frames
hold exactly what the files hold, so both paths see the same values:

ratings.csv       participant,image,dataset,class_name,model,trial,sufficiency,trust,rt_ms,answered_at,method
choices.csv       participant,image,dataset,class_name,left,middle,right,chosen_model,justification,rt_ms,answered_at,
                  left_method,middle_method,right_method,chosen_method (then page_hides, map_count, fourth,
                  fourth_method: a page shows 2 to 4 maps; a two-map page leaves right empty)
participants.csv  participant,started_at,completed_at,degree,cv_experience_years,attention_passed,attention_total,
                  outcome,consent_version
recruitment.csv   participant,source,external_id,external_session,outcome,completion_code,started_at,completed_at
stimuli.csv       image,dataset,class_name,model,predicted_class,confidence,gini,ris,ros,road_aopc,ssim,method,
                  rendering,scaling,settings,target_class,target_rank,target_probability,top_classes,
                  top_probabilities,true_class
balance.csv       page,image,model,method,position,planned,answered  (the design's balance: studyapp.balance)
review.csv        participant,source,external_id,external_session,outcome,action,reason
tasks.csv         participant,block,task,phase,condition,model,method,image,dataset,class_name,trial,question,options,
                  answer,correct_answer,correct,confidence,model_prediction,model_correct,rt_ms,page_hides,answered_at
                  (a study with task blocks only: one row per answer to a scored question; schema.TASKS_COLUMNS)
bonus.csv         <external_id>,<bonus>  without a header row: Prolific's bulk bonus (a study with task blocks that
                  pays a bonus only; the participants review.csv approves whose score earns one)

Columns appended later (issue 20) come after those above, in studyapp.schema's order: ratings.csv and
choices.csv end with page_hides; participants.csv with excluded, exclusion_reason and the data-quality flags
(speeder, total_seconds, speeder_cutoff_seconds, fast_pages, straight_lining, straightlining_share,
attention_failed, attention_rejectable, page_hides). codebook.md / codebook.json (studyapp.codebook) describe
every column. `page_hides` empty: the page sent no count (no script), not 0.

- `participant` is the pseudonym, never a username or e-mail.
- `image` names the source image as `<dataset>-<test index>` (e.g. `fmnist-1234`); an imported image without a
  test index as `<dataset>-id<its record's id>` (e.g. `my-photos-id7`).
- `model`, `left`, `middle`, `right`, `chosen_model` are variants: the built-in codes (N, A, M1, M2, G) or an
  imported model's name; `method`, `left_method`, `middle_method`, `right_method`, `chosen_method` are the
  explanation methods of the same maps (VG, IG, SG, GradCAM or an imported method's name). A row's map is the
  pair (model, method): (`left`, `left_method`) is the map shown on the left. The method columns were appended
  after the first release; a file without them is read as VG throughout (schema.APPENDED_COLUMNS).
- `trial` is the 1-based position of the pair among that participant's rating trials
  (attention checks and side-by-side pages are not counted).
- Times are ISO 8601 UTC with milliseconds (`2026-11-22T15:34:16.123Z`); an empty cell is "not yet".
- `attention_total` counts the attention checks the participant answered, `attention_passed`
  those answered as instructed.
- stimuli.csv has one row per stimulus of the study (image + model + method + target rank) with its map's
  explanation metrics (saliency.metrics); an empty metric cell is one that could not be computed (RIS/ROS when
  noise changed the prediction). `target_rank` 1 is the map of the model's prediction (the maps rating and
  side-by-side pages show); 2, 3, ... explain its runner-up classes (a distinction page's maps). `top_classes` and
  `top_probabilities` are the model's top classes on the image, joined by `|` (empty: not recorded).
- `outcome`: in_progress, completed, no_consent, attention_failed, expired, withdrawn or erased.
  Withdrawn and erased participants' answers and background are deleted, so they are in no file but
  as a row of participants.csv and recruitment.csv. `consent_version` is the number of the consent
  text they agreed to (empty: not consented, or before versions were recorded).
- Researchers' preview participants (`source` preview) are left out of every file unless the export asks
  for them (`export_responses --include-preview`).
- Platform IDs are personal data: only recruitment.csv, review.csv and bonus.csv carry them (`source` is `invite` for a
  personal invite link, else the platform; `external_session` is Prolific's SESSION_ID or MTurk's
  assignmentId; `completion_code` is the code their ending showed), so the other three files can be
  shared (stimuli.csv holds no person's data).

Files are UTF-8 CSV with CRLF line ends (RFC 4180): with "\n" alone, Python's csv writer would
leave a cell holding a bare carriage return unquoted, and a justification could break its row.

Formula injection: a text cell (class_name, justification, degree, and recruitment.csv's source,
external_id, external_session, completion_code) that starts with
`=`, `+`, `-`, `@`, a tab, a carriage return, or `'` gets one leading `'`, so a spreadsheet
shows it as text instead of running it. To recover the original text, drop one leading `'`
from any text cell that starts with one (`value[1:] if value.startswith("'") else value`);
the rule is lossless because a text that itself starts with `'` is prefixed too.
"""

import json

import pandas as pd
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from . import scoring
from .balance import balance_frame
from .models import ENDING_OF_OUTCOME, HANDS_IN_ENDINGS, ChoiceResponse, Participant, Trial
from .schema import (
    BALANCE_FILE,
    CHOICES_COLUMNS, CHOICES_FILE, PARTICIPANTS_COLUMNS, PARTICIPANTS_FILE, PARTICIPANTS_STEP_COLUMNS,
    RATINGS_COLUMNS, RATINGS_FILE, SIDE_BY_SIDE_SLOTS,
    METRIC_NAMES, RECRUITMENT_COLUMNS, RECRUITMENT_FILE, STIMULI_COLUMNS, STIMULI_FILE, guard_formula,
)
from .schema import OPTION_SEPARATOR, QUESTIONS, TARGET_FIELDS, TARGET_RANK, image_id
from .schema import (
    APPROVE, ATTENTION_FAILED, COMPLETED, ERASED, IN_PROGRESS, MAY_REJECT, REQUEST_RETURN, REVIEW_COLUMNS, REVIEW_FILE,
)
from .schema import (
    BONUS_COLUMNS, BONUS_FILE, CSV_LINE_END, DISTINCTION, LEARN, NO_MAP_CONDITION, TASK_QUESTIONS, TASKS,
    TASKS_COLUMNS, TASKS_FILE, TRUE_CLASS, condition_name,
)


def iso_utc(series):
    """Datetimes as ISO 8601 UTC strings with milliseconds; missing ones stay empty (NA)."""
    times = pd.to_datetime(series, utc=True)
    text = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return text.where(times.notna(), pd.NA).astype("string")


def image_ids(dataset, test_index, source_pk):
    """schema.image_id over columns: `<dataset>-<test index>`, or `<dataset>-id<record id>` without a test index."""
    known = test_index.notna()
    index = test_index.astype("Int64").astype(str).where(known, "id" + source_pk.astype(str))
    return dataset.astype(str) + "-" + index


def integers(series):
    """Nullable integers, so that CSV cells read `3`, never `3.0`."""
    return series.astype("Int64")


def texts(series):
    return series.map(guard_formula).astype("string")


def query_frame(queryset, columns):
    """The queryset's rows as a frame (one query); `columns` maps each column to its field lookup."""
    plain = [name for name, lookup in columns.items() if name == lookup]
    renamed = {name: F(lookup) for name, lookup in columns.items() if name != lookup}
    return pd.DataFrame.from_records(list(queryset.values(*plain, **renamed)), columns=list(columns))


def image_lookups(participant, source_image):
    """Lookups of the columns every answer row starts with, from the answer's participant and source image."""
    return {"pseudonym": f"{participant}__pseudonym", "dataset": f"{source_image}__dataset",
            "test_index": f"{source_image}__test_index", "source_pk": f"{source_image}__pk",
            "class_name": f"{source_image}__class_name"}


def image_columns(data):
    """participant, image, dataset, class_name: the columns every answer row starts with."""
    return {
        "participant": data["pseudonym"].astype("string"),
        "image": image_ids(data["dataset"], data["test_index"], data["source_pk"]).astype("string"),
        "dataset": data["dataset"].astype("string"),
        "class_name": texts(data["class_name"]),
    }


def exported_participants(study, include_preview):
    """The study's participants an export holds: researchers' previews only when asked."""
    found = Participant.objects.filter(study=study)
    return found if include_preview else found.filter(is_preview=False)


def ratings_frame(study, include_preview=False):
    """One row per rating answer of the study's participants, in participant then page order."""
    trials = Trial.objects.filter(participant__in=exported_participants(study, include_preview),
                                  kind=Trial.Kind.RATING).annotate(
        rating_number=Window(RowNumber(), partition_by=[F("participant_id")], order_by=F("position").asc()))
    data = query_frame(trials, {
        **image_lookups("participant", "stimulus__source_image"), "position": "position",
        "rating_number": "rating_number", "model": "stimulus__variant", "method": "stimulus__method",
        "sufficiency": "likert_response__sufficiency", "trust": "likert_response__trust",
        "rt_ms": "likert_response__rt_ms", "answered_at": "likert_response__answered_at",
        "page_hides": "likert_response__page_hides",
    })
    # The window numbers every rating trial of the plan; only answered ones become rows.
    data = data[data["sufficiency"].notna()].sort_values(["pseudonym", "position"])
    return pd.DataFrame({
        **image_columns(data),
        "model": data["model"].astype("string"),
        "trial": integers(data["rating_number"]),
        "sufficiency": integers(data["sufficiency"]),
        "trust": integers(data["trust"]),
        "rt_ms": integers(data["rt_ms"]),
        "answered_at": iso_utc(data["answered_at"]),
        "method": data["method"].astype("string"),
        "page_hides": integers(data["page_hides"]),
    }, columns=RATINGS_COLUMNS).reset_index(drop=True)


def choices_frame(study, include_preview=False):
    """One row per side-by-side choice, with the page's 2 to 4 maps (variant, method) in their displayed order."""
    answers = ChoiceResponse.objects.filter(
        trial__participant__in=exported_participants(study, include_preview)).order_by(
        "trial__participant__pseudonym", "trial__position")
    data = query_frame(answers, {
        **image_lookups("trial__participant", "trial__source_image"),
        **{slot: f"trial__{slot}__variant" for slot in SIDE_BY_SIDE_SLOTS},
        "chosen_model": "chosen__variant", "justification": "justification", "rt_ms": "rt_ms",
        "answered_at": "answered_at", **{f"{slot}_method": f"trial__{slot}__method" for slot in SIDE_BY_SIDE_SLOTS},
        "chosen_method": "chosen__method", "page_hides": "page_hides",
    })
    return pd.DataFrame({
        **image_columns(data),
        **{column: data[column].astype("string") for column in (*SIDE_BY_SIDE_SLOTS, "chosen_model")},
        "justification": texts(data["justification"]),
        "rt_ms": integers(data["rt_ms"]),
        "answered_at": iso_utc(data["answered_at"]),
        **{column: data[column].astype("string")
           for column in (*(f"{slot}_method" for slot in SIDE_BY_SIDE_SLOTS), "chosen_method")},
        "page_hides": integers(data["page_hides"]),
        "map_count": integers(data[list(SIDE_BY_SIDE_SLOTS)].notna().sum(axis=1)),
    }, columns=CHOICES_COLUMNS)


def participants_frame(study, include_preview=False):
    """One row per participant of the study, started or not, with their attention-check tally."""
    people = query_frame(exported_participants(study, include_preview).with_progress().order_by("pseudonym"), {
        **{name: name for name in ("pseudonym", "consented_at", "completed_at", "degree", "cv_experience_years",
                                   "attention_passed", "attention_answered", "outcome", *PARTICIPANTS_STEP_COLUMNS)},
        "consent_number": "consent_version__number"})
    return pd.DataFrame({
        "participant": people["pseudonym"].astype("string"),
        "started_at": iso_utc(people["consented_at"]),
        "completed_at": iso_utc(people["completed_at"]),
        "degree": texts(people["degree"]),
        "cv_experience_years": integers(people["cv_experience_years"]),
        "attention_passed": integers(people["attention_passed"]),
        "attention_total": integers(people["attention_answered"]),
        "outcome": people["outcome"].astype("string"),
        "consent_version": integers(people["consent_number"]),
        **decision_and_flag_columns(study, people["pseudonym"], include_preview),
        **{name: iso_utc(people[name]) for name in PARTICIPANTS_STEP_COLUMNS},
    }, columns=PARTICIPANTS_COLUMNS)


def decision_and_flag_columns(study, pseudonyms, include_preview):
    """excluded, exclusion_reason and the flags with their numbers (studyapp.quality), for `pseudonyms` in order."""
    from .monitoring import study_rows  # the console's rows: the same flags the console shows

    rows = {row.participant: row for row in study_rows(study, include_preview=include_preview)}
    found = [rows[name] for name in pseudonyms]
    flags = [row.flags for row in found]

    def flag_values(name, convert):
        return pd.array([convert(getattr(f, name)) if getattr(f, name) is not None else None for f in flags],
                        dtype={int: "Int64", bool: "boolean", float: "Float64"}[convert])

    return {
        "excluded": pd.array([bool(row.excluded) for row in found], dtype="boolean"),
        "exclusion_reason": pd.Series([row.exclusion_reason if row.excluded else "" for row in found],
                                      dtype="string").map(guard_formula).astype("string"),
        "speeder": flag_values("speeder", bool),
        "total_seconds": pd.array([None if f.total_seconds is None else round(f.total_seconds, 3) for f in flags],
                                  dtype="Float64"),
        "speeder_cutoff_seconds": pd.array([None if f.speeder_cutoff_seconds is None
                                            else round(f.speeder_cutoff_seconds, 3) for f in flags], dtype="Float64"),
        "fast_pages": flag_values("fast_pages", int),
        "straight_lining": flag_values("straight_lining", bool),
        "straightlining_share": pd.array([None if f.straightlining_share is None else round(f.straightlining_share, 4)
                                          for f in flags], dtype="Float64"),
        "attention_failed": flag_values("attention_failed", int),
        "attention_rejectable": flag_values("attention_rejectable", bool),
        "page_hides": flag_values("page_hides", int),
    }


def stimuli_frame(study):
    """One row per stimulus of the study, by image, model, method then target rank, with its map's explanation
    metrics and target."""
    data = query_frame(study.stimuli.order_by("source_image__dataset", "source_image__test_index", "variant",
                                              "method", TARGET_RANK), {
        "method": "method",
        "dataset": "source_image__dataset", "test_index": "source_image__test_index", "source_pk": "source_image_id",
        "class_name": "source_image__class_name", "model": "variant", "predicted_class": "predicted_class",
        "confidence": "confidence", **{name: name for name in METRIC_NAMES}, "rendering": "rendering",
        "scaling": "scaling", "settings": "settings", **{name: name for name in TARGET_FIELDS}})
    return pd.DataFrame({
        "image": image_ids(data["dataset"], data["test_index"], data["source_pk"]).astype("string"),
        "dataset": data["dataset"].astype("string"),
        "class_name": texts(data["class_name"]),
        "model": data["model"].astype("string"),
        "predicted_class": texts(data["predicted_class"]),
        **{name: data[name].astype("float64") for name in ["confidence", *METRIC_NAMES]},
        "method": data["method"].astype("string"),
        "rendering": data["rendering"].astype("string"),
        "scaling": data["scaling"].astype("string"),
        "settings": texts(data["settings"].map(lambda value: json.dumps(value, ensure_ascii=False))),
        "target_class": texts(data["target_class"]),
        TARGET_RANK: integers(data[TARGET_RANK]),
        "target_probability": data["target_probability"].astype("float64"),
        "top_classes": texts(data["top_classes"].map(OPTION_SEPARATOR.join)),
        "top_probabilities": data["top_probabilities"].map(
            lambda values: OPTION_SEPARATOR.join(map(str, values))).astype("string"),
        "true_class": texts(data["class_name"]),
    }, columns=STIMULI_COLUMNS)
def recruitment_frame(study, include_preview=False):
    """One row per participant of the study: how they came, their platform IDs and how it ended (for payments)."""
    people = query_frame(exported_participants(study, include_preview).order_by("pseudonym"), {
        "participant": "pseudonym", "completion_code": "ending_code",
        **{name: name for name in ("source", "external_id", "external_session", "outcome", "consented_at",
                                   "completed_at")}})
    return pd.DataFrame({
        "participant": people["participant"].astype("string"),
        **{name: texts(people[name]) for name in ("source", "external_id", "external_session")},
        "outcome": people["outcome"].astype("string"),
        "completion_code": texts(people["completion_code"]),
        "started_at": iso_utc(people["consented_at"]),
        "completed_at": iso_utc(people["completed_at"]),
    }, columns=RECRUITMENT_COLUMNS)


def review_frame(study, include_preview=False):
    """review.csv: every participant who was shown a code to hand in (or handed work in: completed, or ended on failed
    attention checks), with the action for the platform's review: approve; may_reject with the rule and its numbers
    as the reason; or request_return for an ending that asks the person to return the study (withdrawn, no consent,
    expired), which is never a rejection.

    A rule allows rejecting (studyapp.quality): speeder; more than one failed attention check in a study declared
    at 5 minutes or more. The researcher's exclusions do not change it (excluding from the analysis is not
    rejecting). A participant erased on request is approved: deleting their data is no ground for rejecting."""
    from .monitoring import study_rows

    rows = {row.participant: row for row in study_rows(study, include_preview=include_preview)}
    people = query_frame(exported_participants(study, include_preview).filter(
        Q(outcome__in=[COMPLETED, ATTENTION_FAILED]) | (~Q(ending_code="") & ~Q(outcome=IN_PROGRESS))).order_by(
            "pseudonym"),
        {"participant": "pseudonym", **{name: name for name in ("source", "external_id", "external_session",
                                                                 "outcome")}})
    actions, reasons = [], []
    for name, outcome in zip(people["participant"], people["outcome"]):
        rejectable = rows[name].flags.rejectable_reasons
        if ENDING_OF_OUTCOME[outcome] in HANDS_IN_ENDINGS or outcome == ERASED:
            actions.append(MAY_REJECT if rejectable else APPROVE)
            reasons.append("; ".join(rejectable))
        else:
            actions.append(REQUEST_RETURN)
            reasons.append(f"{outcome}: their ending asked them to return the study")
    return pd.DataFrame({
        "participant": people["participant"].astype("string"),
        **{name: texts(people[name]) for name in ("source", "external_id", "external_session")},
        "outcome": people["outcome"].astype("string"),
        "action": pd.Series(actions, dtype="string"),
        "reason": texts(pd.Series(reasons, dtype="object")),
    }, columns=REVIEW_COLUMNS)


def task_answers(study, include_preview=False):
    """tasks.csv's rows as plain values (no formula guard; `options` a list), in participant, block, page and question
    order: one per answer to a scored question. A distinction page that asks for the true class gives two rows (its
    second question's answer is the response's true_class fields); a learning page gives one only where its block
    asks for a guess. `trial` numbers the task pages of the participant's block (attention checks not counted)."""
    trials = Trial.objects.filter(participant__in=exported_participants(study, include_preview),
                                  kind__in=TASKS).annotate(
        page=Window(RowNumber(), partition_by=[F("participant_id"), F("block_id")], order_by=F("position").asc()))
    pages = trials.values(
        "page", "phase", "options", participant_name=F("participant__pseudonym"), block_position=F("block__position"),
        task=F("kind"), asks_true_class=F("block__ask_true_class"), asks_guess=F("block__learning_guess"),
        condition_model=F("participant__task_condition__model"),
        condition_method=F("participant__task_condition__method"), dataset=F("source_image__dataset"),
        test_index=F("source_image__test_index"), source_pk=F("source_image_id"),
        class_name=F("source_image__class_name"), model_prediction=F("stimulus__predicted_class"),
        answer=F("task_response__answer"), confidence=F("task_response__confidence"),
        true_class_answer=F("task_response__true_class_answer"),
        true_class_confidence=F("task_response__true_class_confidence"), rt_ms=F("task_response__rt_ms"),
        page_hides=F("task_response__page_hides"), answered_at=F("task_response__answered_at"))
    rows = []
    for page in pages:
        if page["rt_ms"] is None or (page["phase"] == LEARN and not page["asks_guess"]):
            continue  # not answered yet; a learning page that asked nothing
        questions = [(TASK_QUESTIONS[page["task"]][0], page["answer"], page["confidence"])]
        if page["task"] == DISTINCTION and page["asks_true_class"]:
            questions.append((TRUE_CLASS, page["true_class_answer"], page["true_class_confidence"]))
        model, method = page["condition_model"], page["condition_method"]
        condition = "" if model is None else condition_name(model, method) if method else NO_MAP_CONDITION
        for question, answer, confidence in questions:
            correct_answer = scoring.right_answer(question, model_prediction=page["model_prediction"],
                                                  true_class=page["class_name"])
            rows.append({
                "participant": page["participant_name"], "block": page["block_position"], "task": page["task"],
                "phase": page["phase"], "condition": condition, "model": model, "method": method,
                "image": image_id(page["dataset"], page["test_index"], page["source_pk"]),
                "dataset": page["dataset"], "class_name": page["class_name"], "trial": page["page"],
                "question": question, "options": page["options"], "answer": answer, "correct_answer": correct_answer,
                "correct": int(answer == correct_answer), "confidence": confidence,
                "model_prediction": page["model_prediction"],
                "model_correct": int(page["model_prediction"] == page["class_name"]), "rt_ms": page["rt_ms"],
                "page_hides": page["page_hides"], "answered_at": page["answered_at"]})
    order = {question: number for number, question in enumerate(QUESTIONS)}
    return sorted(rows, key=lambda row: (row["participant"], row["block"], row["trial"], order[row["question"]]))


def tasks_frame(answers):
    """tasks.csv (TASKS_COLUMNS) of task_answers' rows."""
    data = pd.DataFrame.from_records(answers, columns=list(TASKS_COLUMNS))
    return pd.DataFrame({
        **{name: data[name].astype("string") for name in ("participant", "task", "phase", "condition", "model",
                                                          "method", "image", "dataset", "question")},
        **{name: texts(data[name]) for name in ("class_name", "answer", "correct_answer", "model_prediction")},
        "options": texts(data["options"].map(OPTION_SEPARATOR.join)),
        **{name: integers(data[name]) for name in ("block", "trial", "correct", "confidence", "model_correct",
                                                   "rt_ms", "page_hides")},
        "answered_at": iso_utc(data["answered_at"]),
    }, columns=TASKS_COLUMNS)


def scores(answers):
    """{participant: score} of task_answers' rows (studyapp.scoring: right answers above chance, per block, summed;
    a simulation block's learning guesses are not scored)."""
    scored = {}
    for row in answers:
        if scoring.scored(row["phase"]):
            scored.setdefault(row["participant"], []).append(
                scoring.ScoredAnswer(row["block"], bool(row["correct"]), len(row["options"])))
    return {participant: scoring.score(given) for participant, given in scored.items()}


def bonuses(study, answers):
    """{participant: bonus (Decimal, to the cent)} of each participant with a scored answer, at the study's rate and
    cap (studyapp.scoring.bonus)."""
    return {participant: scoring.bonus(points, study.bonus_per_correct, study.bonus_cap)
            for participant, points in scores(answers).items()}


def bonus_frame(study, review, answers):
    """bonus.csv (BONUS_COLUMNS, written without a header): the platform ID and bonus of each participant whose
    submission is to be approved, as review.csv decides (its approve action), who has a platform ID and a bonus
    above 0 (nothing to pay otherwise)."""
    amounts = bonuses(study, answers)
    approved = review[(review["action"] == APPROVE).fillna(False) & review["external_id"].fillna("").ne("")]
    paid = [(external_id, amounts[participant]) for participant, external_id in
            zip(approved["participant"], approved["external_id"]) if amounts.get(participant, 0) > 0]
    return pd.DataFrame({"external_id": pd.Series([external_id for external_id, _ in paid], dtype="string"),
                         "bonus": pd.Series([f"{amount:.2f}" for _, amount in paid], dtype="string")},
                        columns=BONUS_COLUMNS)


def has_tasks(study):
    """A study with task blocks exports tasks.csv (and, where it pays a bonus, bonus.csv); others export as ever."""
    return study.blocks.filter(kind__in=TASKS).exists()


def export_frames(study, include_preview=False):
    """The export files of a study, by file name; researchers' preview participants only with `include_preview`."""
    frames = {RATINGS_FILE: ratings_frame(study, include_preview), CHOICES_FILE: choices_frame(study, include_preview),
              PARTICIPANTS_FILE: participants_frame(study, include_preview),
              RECRUITMENT_FILE: recruitment_frame(study, include_preview), STIMULI_FILE: stimuli_frame(study),
              BALANCE_FILE: balance_frame(study, include_preview), REVIEW_FILE: review_frame(study, include_preview)}
    if has_tasks(study):
        answers = task_answers(study, include_preview)
        frames[TASKS_FILE] = tasks_frame(answers)
        if study.bonus_per_correct is not None:
            frames[BONUS_FILE] = bonus_frame(study, frames[REVIEW_FILE], answers)
    return frames


def csv_text(name, frame, target=None):
    """An export file's CSV (written to `target`, a path, or returned): CRLF line ends; bonus.csv without a header
    row, as Prolific's bulk bonus takes it."""
    return frame.to_csv(target, index=False, header=name != BONUS_FILE, lineterminator=CSV_LINE_END)


# Files that carry platform IDs (personal data: for payments and the platform's review; never shared).
PLATFORM_ID_FILES = (RECRUITMENT_FILE, REVIEW_FILE, BONUS_FILE)
