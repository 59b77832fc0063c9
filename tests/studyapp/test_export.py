"""The export holds exactly what was stored, in the documented columns, safe to open in a spreadsheet."""

import datetime as dt
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studyapp import participation
from studyapp.export import choices_frame, participants_frame, ratings_frame, recruitment_frame, stimuli_frame
from studyapp.models import AttentionCheck, ChoiceResponse, LikertResponse, Outcome, Trial
from studyapp.schema import (
    CHOICES_COLUMNS, PARTICIPANTS_COLUMNS, RATINGS_COLUMNS, RECRUITMENT_COLUMNS, STIMULI_COLUMNS, guard_formula,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def answer_study(participant, ratings, choices, attention_answers, justifications=()):
    """Give `participant` a plan (ratings with one attention check after the first, then choices), answer it.

    ratings: [(stimulus, sufficiency, trust, rt_ms)], choices: [(source_image, (left, middle, right), chosen)],
    attention_answers: [(target, answer)]. Answer times are T0 + one minute per page.
    """
    position = 0
    pages = []

    def page(**fields):
        nonlocal position
        position += 1
        trial = Trial.objects.create(participant=participant, position=position, **fields)
        pages.append(trial)
        return trial, T0 + dt.timedelta(minutes=position)

    for index, (stimulus, sufficiency, trust, rt_ms) in enumerate(ratings):
        trial, moment = page(kind="rating", stimulus=stimulus)
        LikertResponse.objects.create(trial=trial, sufficiency=sufficiency, trust=trust, rt_ms=rt_ms)
        LikertResponse.objects.filter(trial=trial).update(answered_at=moment)
        if index == 0:
            for target, answer in attention_answers:
                trial, moment = page(kind="attention", attention_target=target)
                AttentionCheck.objects.create(trial=trial, answer=answer, rt_ms=900)
                AttentionCheck.objects.filter(trial=trial).update(answered_at=moment)
    for number, (source_image, (left, middle, right), chosen) in enumerate(choices):
        trial, moment = page(kind="choice", source_image=source_image, left=left, middle=middle, right=right)
        text = justifications[number] if number < len(justifications) else f"reason {number}"
        ChoiceResponse.objects.create(trial=trial, chosen=chosen, justification=text, rt_ms=5000 + number)
        ChoiceResponse.objects.filter(trial=trial).update(answered_at=moment)
    return pages


@pytest.fixture
def answered(study_factory, participant_factory):
    """A study with two participants: one finished (two checks, one failed), one who rated a single pair."""
    study = study_factory(images=2)
    stimuli = list(study.stimuli.select_related("source_image").order_by("source_image", "variant"))
    first, second = participant_factory(study), participant_factory(study)
    first.consented_at, first.completed_at = T0, T0 + dt.timedelta(minutes=30)
    first.degree, first.cv_experience_years = "master", 3
    first.outcome, first.ending_code = Outcome.COMPLETED, "DONE-1"
    first.consent_version = study.ensure_consent_version()
    first.source, first.external_id, first.external_session = "prolific", "5f8a1b2c3d4e5f6a7b8c9d0e", "sess9"
    first.save()
    second.consented_at = T0 + dt.timedelta(hours=1)
    second.save()
    ratings = [(s, 1 + i % 5, 5 - i % 5, 1000 + i) for i, s in enumerate(reversed(stimuli))]
    images = sorted({s.source_image for s in stimuli}, key=lambda image: image.pk)
    triples = [[s for s in stimuli if s.source_image == image] for image in images]
    choices = [(images[0], (triples[0][2], triples[0][0], triples[0][1]), triples[0][2]),
               (images[1], tuple(triples[1]), triples[1][0])]
    answer_study(first, ratings, choices, [(4, 4), (2, 5)])
    answer_study(second, [(stimuli[0], 2, 3, 777)], [], [])
    return study, first, second, ratings, choices


@pytest.fixture
def exports(tmp_path):
    """An empty folder for export runs (tmp_path also holds the study's PNGs)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def image_id(image):
    return f"{image.dataset}-{image.test_index}"


def test_ratings_frame_holds_exactly_the_stored_answers(answered):
    study, first, second, ratings, _ = answered
    frame = ratings_frame(study)
    assert list(frame.columns) == list(RATINGS_COLUMNS)
    expected = []
    # The first participant's rating pages are 1, (attention 2, 3), 4, 5, ...: `trial` skips the checks.
    rating_pages = [1] + list(range(4, 4 + len(ratings) - 1))
    for number, ((stimulus, sufficiency, trust, rt_ms), page) in enumerate(zip(ratings, rating_pages), start=1):
        image = stimulus.source_image
        expected.append([first.pseudonym, image_id(image), image.dataset, image.class_name, stimulus.variant,
                         number, sufficiency, trust, rt_ms, iso(T0 + dt.timedelta(minutes=page)),
                             stimulus.method])
    stimulus = study.stimuli.select_related("source_image").order_by("source_image", "variant")[0]
    image = stimulus.source_image
    expected.append([second.pseudonym, image_id(image), image.dataset, image.class_name, stimulus.variant,
                     1, 2, 3, 777, iso(T0 + dt.timedelta(minutes=1)), "VG"])
    expected.sort(key=lambda row: (row[0], row[5]))
    assert frame.astype(object).values[:, :-1].tolist() == expected
    assert frame["page_hides"].isna().all()  # these answers were stored without a count (no script)


def test_choices_frame_keeps_the_displayed_order_and_the_justification(answered):
    study, first, _, ratings, choices = answered
    frame = choices_frame(study)
    assert list(frame.columns) == list(CHOICES_COLUMNS)
    first_choice_page = len(ratings) + 2 + 1
    expected = [
        [first.pseudonym, image_id(image), image.dataset, image.class_name, *(s.variant for s in shown),
         chosen.variant, f"reason {k}", 5000 + k, iso(T0 + dt.timedelta(minutes=first_choice_page + k)),
         *(s.method for s in shown), chosen.method]
        for k, (image, shown, chosen) in enumerate(choices)
    ]
    before = list(CHOICES_COLUMNS).index("page_hides")  # the columns before those appended later
    assert frame.astype(object).values[:, :before].tolist() == expected
    assert frame.loc[0, ["left", "middle", "right"]].tolist() == ["N", "A", "M2"]  # as shown, not sorted
    assert frame[["map_count", "fourth", "fourth_method"]].astype(object).where(frame.notna(), None).values.tolist() \
        == [[3, None, None]] * len(choices)  # three maps: no Map 4


def test_participants_frame_counts_attention_checks_and_leaves_open_times_empty(answered):
    study, first, second, _, _ = answered
    frame = participants_frame(study).astype(object).where(lambda f: f.notna(), None)
    assert list(frame.columns) == list(PARTICIPANTS_COLUMNS)
    rows = {row[0]: row[:9] for row in frame.values.tolist()}
    assert rows[first.pseudonym] == [first.pseudonym, iso(T0), iso(T0 + dt.timedelta(minutes=30)), "master", 3, 1, 2,
                                     "completed", 1]
    assert rows[second.pseudonym] == [second.pseudonym, iso(T0 + dt.timedelta(hours=1)), None, "", None, 0, 0,
                                      "in_progress", None]
    flags = frame.set_index("participant")
    assert flags.loc[first.pseudonym, ["excluded", "attention_failed", "total_seconds"]].tolist() == [False, 1, 1800.0]
    assert flags.loc[second.pseudonym, "speeder"] is None  # not completed: not judged


def test_recruitment_frame_alone_carries_the_platform_ids(answered):
    study, first, second, _, _ = answered
    frame = recruitment_frame(study).astype(object).where(lambda f: f.notna(), None)
    assert list(frame.columns) == list(RECRUITMENT_COLUMNS)
    rows = {row[0]: row for row in frame.values.tolist()}
    assert rows[first.pseudonym] == [first.pseudonym, "prolific", "5f8a1b2c3d4e5f6a7b8c9d0e", "sess9", "completed",
                                     "DONE-1", iso(T0), iso(T0 + dt.timedelta(minutes=30))]
    assert rows[second.pseudonym] == [second.pseudonym, "invite", "", "", "in_progress", "",
                                      iso(T0 + dt.timedelta(hours=1)), None]
    shared = [ratings_frame(study), choices_frame(study), participants_frame(study)]
    assert not any(frame.astype(str).isin(["5f8a1b2c3d4e5f6a7b8c9d0e", "sess9"]).any().any() for frame in shared)


def test_withdrawn_and_erased_participants_keep_only_their_audit_row(answered, participant_factory, exports):
    study, first, second, ratings, _ = answered
    participation.erase(first, Outcome.WITHDRAWN)
    participation.erase(second, Outcome.ERASED)
    call_command("export_responses", study=study.slug, out=exports / "export")
    read = {name: pd.read_csv(exports / "export" / name, dtype=str, keep_default_na=False)
            for name in ("ratings.csv", "choices.csv", "participants.csv", "recruitment.csv")}
    assert read["ratings.csv"].empty and read["choices.csv"].empty
    people = read["participants.csv"].set_index("participant")
    assert people.loc[first.pseudonym].tolist()[:8] == [iso(T0), iso(T0 + dt.timedelta(minutes=30)), "", "", "0", "0",
                                                    "withdrawn", "1"]
    assert people.loc[second.pseudonym, ["degree", "outcome"]].tolist() == ["", "erased"]
    audit = read["recruitment.csv"].set_index("participant")
    assert audit.loc[first.pseudonym, ["external_id", "outcome", "completed_at"]].tolist() == [
        "5f8a1b2c3d4e5f6a7b8c9d0e", "withdrawn", iso(T0 + dt.timedelta(minutes=30))]
    assert audit.loc[second.pseudonym, "outcome"] == "erased"
    assert not Trial.objects.exists() and not LikertResponse.objects.exists() and not ChoiceResponse.objects.exists()


def test_export_command_writes_the_files_as_the_frames_hold_them(answered, exports):
    study, first, *_ = answered
    out = exports / "export"
    call_command("export_responses", study=study.slug, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["balance.csv", "choices.csv", "participants.csv", "ratings.csv",
                                                     "recruitment.csv", "review.csv", "stimuli.csv"]
    ratings = pd.read_csv(out / "ratings.csv", dtype=str, keep_default_na=False)
    assert list(ratings.columns) == list(RATINGS_COLUMNS)
    assert ratings.values.tolist() == ratings_frame(study).astype(object).where(
        lambda f: f.notna(), "").astype(str).values.tolist()
    header, *rows = (out / "participants.csv").read_text().splitlines()
    assert header == ",".join(PARTICIPANTS_COLUMNS)
    assert any(row.startswith(f"{first.pseudonym},{iso(T0)},{iso(T0 + dt.timedelta(minutes=30))},master,3,1,2,"
                              "completed,1,") for row in rows)
    recruitment = pd.read_csv(out / "recruitment.csv", dtype=str, keep_default_na=False)
    assert list(recruitment.columns) == list(RECRUITMENT_COLUMNS)
    assert recruitment.values.tolist() == recruitment_frame(study).fillna("").astype(str).values.tolist()
    assert not [p for p in exports.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_exports_never_carry_usernames(answered, exports):
    study, first, second, *_ = answered
    call_command("export_responses", study=study.slug, out=exports / "export")
    text = "".join(p.read_text() for p in (exports / "export").iterdir())
    assert first.pseudonym in text and second.pseudonym in text
    for participant in (first, second):
        assert participant.user.username not in text


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "\tcmd", "\rcmd", "'=already quoted"])
def test_formula_like_justifications_are_neutralised_losslessly(text, study_factory, participant_factory, exports):
    study = study_factory(images=1)
    triple = list(study.stimuli.select_related("source_image").order_by("variant"))
    answer_study(participant_factory(study), [], [(triple[0].source_image, tuple(triple), triple[1])], [],
                 justifications=[text])
    call_command("export_responses", study=study.slug, out=exports / "export")
    cell = pd.read_csv(exports / "export" / "choices.csv", dtype=str, keep_default_na=False)["justification"][0]
    assert cell == "'" + text
    assert cell[1:] == text  # the documented way back


def test_formula_like_codes_in_recruitment_csv_are_neutralised(study_factory, participant_factory, exports):
    participant = participant_factory(study_factory(images=1))
    participant.ending_code, participant.external_session = "=HYPERLINK(\"http://evil.example\")", "-1+2"
    participant.save()
    call_command("export_responses", study=participant.study.slug, out=exports / "export")
    row = pd.read_csv(exports / "export" / "recruitment.csv", dtype=str, keep_default_na=False).iloc[0]
    assert (row["completion_code"], row["external_session"]) == ("'=HYPERLINK(\"http://evil.example\")", "'-1+2")


def test_line_breaks_in_justifications_survive_the_csv(study_factory, participant_factory, exports):
    study = study_factory(images=1)
    triple = list(study.stimuli.select_related("source_image").order_by("variant"))
    texts = ["first line\r\nsecond line", "bare\rreturn, \"quoted\", comma"]
    answer_study(participant_factory(study), [], [(triple[0].source_image, tuple(triple), triple[1])] * 2, [],
                 justifications=texts)
    call_command("export_responses", study=study.slug, out=exports / "export")
    read = pd.read_csv(exports / "export" / "choices.csv", dtype=str, keep_default_na=False)
    assert read["justification"].tolist() == texts


def test_harmless_text_is_left_alone():
    assert guard_formula("The left map is clearer; 3-4 regions.") == "The left map is clearer; 3-4 regions."
    assert guard_formula("<script>alert(1)</script>") == "<script>alert(1)</script>"


def test_formula_like_class_names_are_neutralised(study_factory, participant_factory):
    study = study_factory(images=1)
    stimulus = study.stimuli.select_related("source_image").first()
    stimulus.source_image.class_name = "=cmd|' /C calc'!A0"
    stimulus.source_image.save()
    answer_study(participant_factory(study), [(stimulus, 3, 3, 100)], [], [])
    assert ratings_frame(study)["class_name"].tolist() == ["'=cmd|' /C calc'!A0"]


def test_export_queries_do_not_grow_with_the_participants(answered, participant_factory):
    study, *_ = answered

    def queries():
        with CaptureQueriesContext(connection) as captured:
            ratings_frame(study), choices_frame(study), participants_frame(study)
        return len(captured)

    before = queries()
    stimulus = study.stimuli.first()
    for _ in range(5):
        answer_study(participant_factory(study), [(stimulus, 4, 4, 10)], [], [(4, 4)])
    # ratings, choices, participants; the flags' rows: progress, three answer tallies, the ratings' answers and
    # the estimated duration (the study's stimuli, its timed participations)
    assert queries() == before <= 3 + 6 + 2


def test_an_empty_study_exports_headers_only(study_factory, exports):
    study = study_factory(images=1)
    call_command("export_responses", study=study.slug, out=exports / "export")
    assert (exports / "export" / "ratings.csv").read_text().strip() == ",".join(RATINGS_COLUMNS)
    assert (exports / "export" / "choices.csv").read_text().strip() == ",".join(CHOICES_COLUMNS)


def test_unknown_study_writes_nothing(study_factory, exports):
    study_factory(images=1, slug="pilot")
    with pytest.raises(CommandError, match="No study with slug 'nope'. Known studies: pilot"):
        call_command("export_responses", study="nope", out=exports / "export")
    assert list(exports.iterdir()) == []


def test_existing_export_files_are_kept_without_overwrite(answered, exports):
    study, *_ = answered
    out = exports / "export"
    out.mkdir()
    (out / "ratings.csv").write_text("keep me")
    with pytest.raises(CommandError, match="already holds ratings.csv; pass --overwrite"):
        call_command("export_responses", study=study.slug, out=out)
    assert (out / "ratings.csv").read_text() == "keep me"
    assert sorted(p.name for p in exports.iterdir()) == ["export"]
    call_command("export_responses", study=study.slug, out=out, overwrite=True)
    assert (out / "ratings.csv").read_text().startswith(",".join(RATINGS_COLUMNS))


def test_a_failed_write_leaves_no_partial_export(answered, exports, monkeypatch):
    study, *_ = answered
    written = []
    original = pd.DataFrame.to_csv

    def fail_on_second(frame, path, **kwargs):
        written.append(path)
        if len(written) == 2:
            raise OSError("disk full")
        return original(frame, path, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        call_command("export_responses", study=study.slug, out=exports / "export")
    assert list(exports.iterdir()) == []


def test_stimuli_csv_lists_the_studys_stimuli_with_their_metrics(study_factory, exports):
    study = study_factory(images=2)
    other = study_factory(images=1)  # its stimuli are not in the export
    stimuli = list(study.stimuli.select_related("source_image").order_by("source_image__test_index", "variant"))
    for number, stimulus in enumerate(stimuli):
        stimulus.gini, stimulus.ris, stimulus.ros = 0.5 + number / 100, 1e-4 * (number + 1), 1234.5 + number
        stimulus.road_aopc, stimulus.ssim = 0.25, 0.75
    stimuli[0].ris = stimuli[0].ros = None  # noise changed the prediction
    stimuli[1].predicted_class = "=cmd"
    stimuli[1].rendering, stimuli[1].scaling = "diverging", "image"
    stimuli[1].settings = {"epsilon": 0.1, "target_layer": "features.3", "baseline": "blur (σ = 5)"}
    for stimulus in stimuli:
        stimulus.save()
    call_command("export_responses", study=study.slug, out=exports / "export")
    rows = pd.read_csv(exports / "export" / "stimuli.csv", dtype=str, keep_default_na=False)
    assert list(rows.columns) == list(STIMULI_COLUMNS)
    assert len(rows) == 6 and not rows["image"].isin([f"fmnist-{s.source_image.test_index}"
                                                      for s in other.stimuli.all()]).any()
    first, second = rows.iloc[0], rows.iloc[1]
    source = stimuli[0].source_image
    assert first[["image", "dataset", "class_name", "model", "method"]].tolist() == [
        f"fmnist-{source.test_index}", "fmnist", source.class_name, stimuli[0].variant, "VG"]
    assert first["ris"] == "" and first["ros"] == "" and float(first["gini"]) == 0.5
    assert float(second["ris"]) == 2e-4 and float(second["ros"]) == 1235.5 and second["predicted_class"] == "'=cmd"
    assert first[["rendering", "scaling", "settings"]].tolist() == ["sequential", "map", "{}"]
    assert second[["rendering", "scaling"]].tolist() == ["diverging", "image"]
    assert json.loads(second["settings"]) == stimuli[1].settings
    assert stimuli_frame(study)["gini"].tolist() == [s.gini for s in stimuli]
