"""A study as a file: export_study, create_study, the round trip, the admin's validation, the shipped demo files."""

import io
import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from saliency.files import file_sha256
from studyapp import studyfile
from studyapp.models import ConsentVersion, ConsoleEvent, Study
from studyapp.studyfile import OwnedRows, Section, Setting, StudyFileError, toml_value

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def configured(study_factory):
    """A study with every kind of setting away from its default, and a consent text at its third version."""
    study = study_factory(
        images=2, methods=("VG", "IG"), slug="configured", title='Maps "and" more \\ a title',
        consent_text="First paragraph.\n\nSecond paragraph, with \"quotes\", a tab\there and a backslash \\.",
        sufficiency_statement="Enough information?", likert_labels=["1", "2", "3", "4", "Fully agree"],
        comparison_count=1, attention_checks=True, comparison="methods", views_per_image=2,
        attention_failure_ending="second", recruitment_source="prolific", is_open=True, max_participants=40,
        inactivity_limit=timedelta(hours=1, minutes=30), unconsented_limit=timedelta(minutes=5),
        completion_code="C0MPL3T3", attention_failed_code="CHECKFAIL1",
        completion_redirect_url="https://app.prolific.com/submissions/complete?cc={code}",
        no_consent_redirect_url="https://example.org/declined?code=NOCONSENT9", no_consent_code="NOCONSENT9",
        seconds_per_page=9, declared_minutes=11, map_legend=True, speeder_sd=2.5, speeder_min_completions=12, page_floor_ms=800,
        straightlining_share=0.85, straightlining_min_ratings=6, stuck_after=timedelta(minutes=20), seed=987654321)
    for text in ("Second text.", study.consent_text):  # versions 2 and 3: the file says 3
        study.consent_text = text
        study.save()
    return study


def settings_of(study):
    """Every field the file carries, and the stimuli, for comparing two studies."""
    names = [entry.field for _, entry in studyfile.settings_of() if isinstance(entry, Setting)]
    return {name: getattr(study, name) for name in names if name != "slug"} | {
        "stimuli": set(study.stimuli.values_list("pk", flat=True))}


# --- The TOML writer ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "", "plain", 'say "hi"', "back\\slash", "tab\there", "bell\x07 and del\x7f and nul\x00", "ünïcødé ✓",
    "two\nlines", "ends with a quote\"", 'three """ quotes\n"""', "windows\r\nline ends\r\n", "\n", "\nstarts",
    "trailing backslash\\\n", 0, -3, 2 ** 62, 0.1, 1e-05, 3.0, 1e300, True, False,
    ["a", "b\nc"], [], {"key": "v", "odd key": [1, 2]},
])
def test_the_writer_writes_what_tomllib_reads_back(value):
    assert tomllib.loads(f"x = {toml_value(value)}")["x"] == value


def test_the_writer_refuses_what_toml_cannot_hold():
    with pytest.raises(ValueError, match="finite"):
        toml_value(float("nan"))
    with pytest.raises(TypeError):
        toml_value(None)


# --- Round trip ---------------------------------------------------------------------------------------------

def test_export_create_on_an_empty_database_export_again_gives_the_same_file(configured, tmp_path):
    expected = settings_of(configured)
    first = tmp_path / "first.toml"
    assert "Wrote study 'configured' (12 stimuli)" in run("export_study", "configured", str(first))
    Study.objects.all().delete()  # an empty database, with the stimuli loaded
    assert "Created study 'configured'" in run("create_study", str(first))
    created = Study.objects.get()
    assert settings_of(created) == expected
    assert created.ensure_consent_version().number == 3 and created.consent_versions.count() == 1
    second = tmp_path / "second.toml"
    run("export_study", "configured", str(second))
    assert second.read_bytes() == first.read_bytes()


def test_the_file_names_stimuli_by_the_sha256_of_their_pngs(configured, stimuli_root):
    data = tomllib.loads(studyfile.dump(configured))
    rows = {(row["image"], row["map"], row["model"], row["method"]) for row in data["stimuli"]}
    assert rows == {(file_sha256(stimuli_root / s.source_image.image), file_sha256(stimuli_root / s.heatmap),
                     s.variant, s.method) for s in configured.stimuli.select_related("source_image")}
    assert data["consent"]["version"] == 3 and data["recruitment"]["inactivity_limit"] == "01:30:00"
    assert "comparison_count" in data["pages"] and "max_participants" in data["recruitment"]
    text = studyfile.dump(configured)
    assert "# views_per_image" not in text and re.search(r"^# id_parameter: not set|^id_parameter = \"\"", text,
                                                         flags=re.M)


def test_create_study_takes_another_slug(configured, tmp_path):
    path = tmp_path / "study.toml"
    run("export_study", "configured", str(path))
    run("create_study", str(path), slug="replication")
    copy = Study.objects.get(slug="replication")
    assert settings_of(copy) == settings_of(configured)


def test_without_codes_leaves_the_codes_out_and_writes_the_study_closed(configured, tmp_path):
    path = tmp_path / "shared.toml"
    assert "without its ending codes, closed" in run("export_study", "configured", str(path), without_codes=True)
    text = path.read_text()
    for code in ("C0MPL3T3", "CHECKFAIL1", "NOCONSENT9"):
        assert code not in text
    data = tomllib.loads(text)
    assert data["recruitment"]["is_open"] is False
    assert data["endings"]["no_consent_redirect_url"] == "https://example.org/declined?code={code}"
    assert not {key for key in data["endings"] if key.endswith("_code")}
    run("create_study", str(path), slug="shared")
    shared = Study.objects.get(slug="shared")
    assert not shared.is_open and shared.completion_code == "" and shared.comparison == "methods"
    configured.refresh_from_db()
    assert configured.is_open and configured.completion_code == "C0MPL3T3"  # the original is untouched


# --- Bad files: every problem named, nothing written ---------------------------------------------------------

def nothing_more_written(before):
    assert Study.objects.count() == before and ConsentVersion.objects.filter(study__slug="fresh").count() == 0


def test_a_bad_file_names_every_problem_and_creates_nothing(configured, tmp_path):
    data = studyfile.dump(configured).replace('slug = "configured"', 'slug = "fresh"')
    broken = (data.replace("[pages]", "[pages]\nsufficiency_statment = \"typo\"", 1)
              .replace("\ntitle = ", "\ncolour = \"red\"\ntitle = ")
              .replace("seconds_per_page = 9", "seconds_per_page = \"nine\"")
              .replace('comparison = "methods"', 'comparison = "images"')
              .replace("speeder_sd = 2.5", "speeder_sd = 0.0")
              .replace('inactivity_limit = "01:30:00"', 'inactivity_limit = "ninety minutes"')
              .replace('completion_code = "C0MPL3T3"', 'completion_code = ""')
              .replace('completion_redirect_url = "https://app.prolific.com/submissions/complete?cc={code}"',
                       'completion_redirect_url = ""')
              .replace("seed = 987654321\n", ""))
    first_map = re.search(r'^map = "([0-9a-f]{64})"', broken, flags=re.M).group(1)
    broken = broken.replace(first_map, "0" * 64, 1)
    path = tmp_path / "broken.toml"
    path.write_text(broken)
    before = Study.objects.count()
    with pytest.raises(CommandError) as raised:
        run("create_study", str(path))
    message = str(raised.value)
    for expected in (
        "nothing was created",
        "study file: unknown key 'colour'",
        "[pages]: unknown key 'sufficiency_statment'. Did you mean 'sufficiency_statement'?",
        "pages.seconds_per_page: expected a whole number, got \"nine\"",
        "design.comparison: Value 'images' is not a valid choice.",
        "quality.speeder_sd: Ensure this value is greater than or equal to 0.1.",
        "recruitment.inactivity_limit: expected a duration",
        "endings.completion_code: People who complete the study cannot be credited on Prolific",  # Study.clean
        "seed: missing; this key is required.",
        "stimuli[1]: this instance has no stimulus of model",
    ):
        assert expected in message, (expected, message)
    nothing_more_written(before)


@pytest.mark.parametrize("change, expected", [
    (lambda t: t + "\n[[stimuli]]\nimage = \"x\"\n", "stimuli[13].image: expected a SHA-256"),
    (lambda t: re.sub(r"\[\[stimuli\]\][^\[]*", "", t), "stimuli: This field is required."),
    (lambda t: t.replace('slug = "fresh"', 'slug = "configured"'), "slug: study 'configured' exists on this "
                                                                   "instance; give the new one another slug"),
    (lambda t: t.replace("version = 3", "version = 0"), "consent.version: expected a whole number of at least 1"),
    (lambda t: t.replace("format = 1", "format = 2"), "format: this version reads study files of format 1, got 2"),
    (lambda t: t.replace("[pages]", "[pages", 1), "Not a TOML file"),
    (lambda t: t.replace('title = ', 'title = 3 #'), "title: expected a text in quotes, got 3."),
    (lambda t: t + '\n[[stimuli]]\nimage = "' + "1" * 64 + '"\nmap = "' + "2" * 64 + '"\nmodel = "N"\n'
                   'method = "VG"\nsize = 3\n', "stimuli[13]: unknown key 'size'"),
])
def test_each_kind_of_problem_is_named(configured, change, expected):
    text = studyfile.dump(configured).replace('slug = "configured"', 'slug = "fresh"')
    before = Study.objects.count()
    with pytest.raises(StudyFileError) as raised:
        studyfile.create_study(change(text))
    assert expected in str(raised.value), str(raised.value)
    nothing_more_written(before)


def test_a_stimulus_listed_twice_is_named(configured):
    text = studyfile.dump(configured).replace('slug = "configured"', 'slug = "fresh"')
    first = re.search(r"\n\[\[stimuli\]\][^\n]*\n(?:[a-z]+ = [^\n]+\n)+", text).group(0)
    with pytest.raises(StudyFileError, match=r"stimuli\[13\]: the same stimulus as stimuli\[1\]"):
        studyfile.create_study(text + first)


def test_create_study_refuses_an_unreadable_file(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run("create_study", str(tmp_path / "missing.toml"))


def test_export_study_never_overwrites_unasked(configured, tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("mine")
    with pytest.raises(CommandError, match="exists; pass --overwrite"):
        run("export_study", "configured", str(path))
    assert path.read_text() == "mine"
    run("export_study", "configured", str(path), overwrite=True)
    assert path.read_text().startswith("# A Saliency Study study file")


# --- The schema is the one place ----------------------------------------------------------------------------

def test_every_study_field_is_in_the_file_or_excluded_with_a_reason():
    """A field or related table added to Study fails here until it is put in studyfile.SCHEMA / TABLES or in
    studyfile.NOT_IN_FILE with the reason it is not part of a study's definition."""
    fields = {f.name for f in Study._meta.get_fields()}
    in_file = studyfile.fields_in_file()
    assert not in_file & set(studyfile.NOT_IN_FILE), "a field is both in the file and excluded"
    assert fields - in_file - set(studyfile.NOT_IN_FILE) == set(), "fields neither in the file nor excluded"
    assert (in_file | set(studyfile.NOT_IN_FILE)) - fields == set(), "names that are no Study field"
    for _, entry in studyfile.settings_of():
        if isinstance(entry, Setting):
            assert entry.kind.name  # every field has a TOML type
    keys = [section.path(entry.name) for section, entry in studyfile.settings_of()]
    assert len(keys) == len(set(keys))


def test_the_reference_page_is_generated_from_the_schema():
    """docs/reference/study-file.md is what `.venv/bin/python -m devtools.reference_docs` writes."""
    page = (ROOT / studyfile.REFERENCE_PAGE).read_text(encoding="utf-8")
    assert page == studyfile.reference_markdown(), "stale: run .venv/bin/python -m devtools.reference_docs"
    for section, entry in studyfile.settings_of():
        assert f"| `{entry.name}` |" in page


def test_owned_rows_make_a_related_table_of_records_checked_by_their_model(study_factory):
    """The generic table of records a study owns (for blocks, conditions, ...), on a real related model."""
    events = OwnedRows("events", ConsoleEvent, owner="study", order_by=("action",), help="Test table.",
                       settings=(Setting("action", model=ConsoleEvent), Setting("detail", model=ConsoleEvent),
                                 Setting("username", model=ConsoleEvent)))
    study = study_factory(images=1, slug="owner")
    ConsoleEvent.objects.create(study=study, username="ann", action="report", detail="first")
    ConsoleEvent.objects.create(study=study, username="bob", action="export")
    schema = studyfile.SCHEMA
    text = studyfile.dump(study, tables=(*studyfile.TABLES, events))
    assert '[[events]]\naction = "export"\ndetail = ""\nusername = "bob"' in text
    copy = studyfile.parse(text, slug="copy", tables=(*studyfile.TABLES, events)).save()
    assert list(copy.console_events.order_by("action").values_list("action", "detail", "username")) == [
        ("export", "", "bob"), ("report", "first", "ann")]
    assert studyfile.dump(copy, tables=(*studyfile.TABLES, events)) == text.replace('"owner"', '"copy"')
    bad = text.replace('username = "bob"', 'username = "' + "b" * 200 + '"').replace(
        'action = "report"', 'action = 7')
    with pytest.raises(StudyFileError) as raised:
        studyfile.parse(bad, slug="third", schema=schema, tables=(*studyfile.TABLES, events))
    assert "events[1].username: Ensure this value has at most 150 characters" in str(raised.value)
    assert "events[2].action: expected a text in quotes, got 7." in str(raised.value)
    assert "| `action` | text |" in studyfile.reference_markdown(tables=(*studyfile.TABLES, events))
    assert Section  # the schema's sections are plain data


# --- The shipped demo studies -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_shipped_demo_files_are_the_demo_studies_create_demo_study_makes():
    """create_demo_study reads fixtures/studies/*.toml; on the shipped stimuli, exporting its studies gives the
    shipped files back, byte for byte."""
    run("loaddata", "stimuli", "methods", "tasks")
    run("create_demo_study", participants=1)
    for slug in ("demo", "methods", "tasks"):
        shipped = (ROOT / "fixtures" / "studies" / f"{slug}.toml").read_text(encoding="utf-8")
        assert studyfile.dump(Study.objects.get(slug=slug)) == shipped, slug
