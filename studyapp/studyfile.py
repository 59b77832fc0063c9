"""A study as a file (study.toml) and back: `manage.py export_study` writes it, `manage.py create_study` reads it.

The format is defined here, in one place: SCHEMA lists every key, each mapped to a Study field (`Setting`) or to
a table of related records (`StimulusTable`, `OwnedRows`); a key's type, default and help come from its model
field, so the reference page (docs/reference/study-file.md, `reference_markdown`) and the admin say the same.
Every Study field is either in SCHEMA or in NOT_IN_FILE with the reason (a test holds both lists to the model),
so a field added to Study cannot be dropped from the file unnoticed.

Reading checks a file the way the admin checks its form: TOML types here, then the model's own validation
(`Study.full_clean`: the fields' validators, choices, uniqueness and Study.clean) and the admin form's field for
the stimuli. Every problem is named by its key, an unknown key is one, and nothing is written unless the whole
file is right. Stimuli are named by the SHA-256 of their PNG files (the image's and the map's), with their model
and method, so a file finds the same stimuli on any instance that has loaded them.

Writing is deterministic (the same study gives the same bytes), so export -> create -> export gives an
identical file. TOML is read by `tomllib` and written by the small exact writer below (`toml_value`): the
format needs strings (one- and multi-line), integers, floats, booleans, arrays and inline tables of those.
"""

import difflib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils.dateparse import parse_duration
from django.utils.duration import duration_string

from saliency.files import file_sha256
from saliency.models import Stimulus
from studyapp.models import Block, Study, TaskCondition
from studyapp.schema import NO_MAP_CONDITION, image_id

FORMAT = 1
HEADER = ("# A Saliency Study study file. Make the study it defines with `manage.py create_study FILE`;\n"
          "# every key: docs/reference/study-file.md.\n")
REFERENCE_PAGE = "docs/reference/study-file.md"
SHA256 = re.compile(r"[0-9a-f]{64}")
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class StudyFileError(ValueError):
    """Every problem of a study file, one line each; nothing was written."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- TOML values ------------------------------------------------------------------------------------------

def toml_string(text):
    """A TOML basic string; a text with line breaks as a multi-line basic string, its lines kept readable."""
    if "\n" not in text:
        return '"' + "".join(_escape(c, multiline=False) for c in text) + '"'
    return '"""\n' + "".join(_escape(c, multiline=True) for c in text) + '"""'


def _escape(char, multiline):
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    if multiline and char in "\n\t":
        return char
    short = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    if char in short:
        return short[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04X}"
    return char


def toml_key(key):
    return key if BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value):
    """`value` (str, bool, int, finite float, or a list or dict of those) as TOML; inline for lists and dicts."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a study file holds finite numbers only, not {value}")
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


# --- Value types: a model field's values as TOML values -----------------------------------------------------

@dataclass(frozen=True)
class ValueType:
    """How a model field's value is written to TOML and read back; `name` is what the reference page shows."""

    name: str

    def read(self, value):
        """The field's value from the TOML value; ValueError (saying what was expected) when it has another type."""
        raise NotImplementedError

    def write(self, value):
        return value


class Text(ValueType):
    def read(self, value):
        if not isinstance(value, str):
            raise ValueError("expected a text in quotes")
        return value


class Integer(ValueType):
    def read(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        return value


class Number(ValueType):
    def read(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        return float(value)


class Boolean(ValueType):
    def read(self, value):
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value


class Duration(ValueType):
    """A duration as the admin's form takes it: "H:MM:SS" (or "D H:MM:SS"), e.g. "2:00:00"."""

    def read(self, value):
        parsed = parse_duration(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError('expected a duration in quotes such as "1:30:00" (hours:minutes:seconds)')
        return parsed

    def write(self, value):
        return duration_string(value)


class Amount(ValueType):
    """A sum of money (a DecimalField) as a TOML number, e.g. 0.05: read exactly as written (the field's validation
    then refuses more decimal places than it keeps)."""

    def read(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError("expected an amount such as 0.05")
        return Decimal(repr(value))

    def write(self, value):
        return float(value)


class Json(ValueType):
    """A JSON field: an array or table of texts, numbers and booleans (TOML's dates and times are not JSON)."""

    def read(self, value):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError("expected texts, numbers and booleans (in an array or table), no dates or times") \
                from None
        return value


# Django field classes in the order they are tried (a PositiveIntegerField is an IntegerField, a SlugField a
# CharField, ...). A field of another class has no TOML form yet: value_type() says so, and a test fails.
VALUE_TYPES = (
    (models.BooleanField, Boolean("boolean")),
    (models.DurationField, Duration('duration, e.g. "2:00:00"')),
    (models.DecimalField, Amount("amount, e.g. 0.05")),
    (models.FloatField, Number("number")),
    (models.IntegerField, Integer("integer")),
    (models.JSONField, Json("array")),
    (models.CharField, Text("text")),
    (models.TextField, Text("text")),
)


def value_type(model_field):
    for field_class, kind in VALUE_TYPES:
        if isinstance(model_field, field_class):
            return kind
    raise TypeError(f"studyapp.studyfile has no TOML type for {type(model_field).__name__} "
                    f"({model_field.model.__name__}.{model_field.name}); add one to VALUE_TYPES.")


# --- The schema's entries -----------------------------------------------------------------------------------

NOT_READ = object()  # a key whose value was missing or of the wrong type: its problem is named already


def absent(value):
    """A value the file leaves out: TOML has no null, so an empty (None) field is a missing key."""
    return value is None


@dataclass(frozen=True)
class Setting:
    """One key of the file: the value of a model field (`field`), written as `key` (default: the field's name).

    Its type, default and help come from the model field. A missing key takes the field's default; a key whose
    field has none (and may not be empty) is required. `secret`: left out by `export_study --without-codes`."""

    field: str
    key: str = ""
    secret: bool = False
    model: type = Study
    help: str = ""  # instead of the model field's help text (or, without one, its verbose name)

    @property
    def name(self):
        return self.key or self.field

    @property
    def model_field(self):
        return self.model._meta.get_field(self.field)

    @property
    def kind(self):
        return value_type(self.model_field)

    @property
    def required(self):
        model_field = self.model_field
        return not model_field.has_default() and not model_field.null and not model_field.blank

    def read(self, table, path, problems):
        """The field's value from `table` (its default when the key is missing); NOT_READ after a problem."""
        if self.name not in table:
            if self.required:
                problems.append(f"{path}: missing; this key is required.")
                return NOT_READ
            return self.model_field.get_default()
        try:
            return self.kind.read(table[self.name])
        except ValueError as error:
            problems.append(f"{path}: {error}, got {toml_value_or_type(table[self.name])}.")
            return NOT_READ

    def lines(self, record, without_codes):
        value = getattr(record, self.field)
        if self.secret and without_codes:
            return [f"# {self.name}: left out (--without-codes)"]
        if absent(value):
            return [f"# {self.name}: not set"]
        return [f"{self.name} = {toml_value(self.kind.write(value))}"]

    def reference(self):
        """(key, type, default, help) for the reference page."""
        model_field = self.model_field
        default = model_field.get_default()
        if self.required:
            default = "required"
        else:
            default = "not set" if absent(default) else f"`{toml_value(self.kind.write(default))}`"
        help_text = self.help or str(model_field.help_text or model_field.verbose_name.capitalize() + ".").strip()
        if model_field.choices:
            help_text += " One of: " + "; ".join(f"`{toml_value(value)}` ({label})"
                                                  for value, label in model_field.choices) + "."
        if self.secret:
            help_text += " Left out by `export_study --without-codes`."
        return self.name, self.kind.name, default, help_text


def toml_value_or_type(value):
    try:
        return toml_value(value)
    except (TypeError, ValueError):
        return type(value).__name__


@dataclass(frozen=True)
class ConsentVersionNumber:
    """[consent] version: the number of the consent text's version that participants see now.

    A created study's text becomes this version (its participants' consent_version in the export); the earlier
    texts are the history of the study's own instance (a replication package keeps each of them)."""

    name: str = "version"

    def read(self, table, path, problems):
        value = table.get(self.name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{path}: expected a whole number of at least 1, got {toml_value_or_type(value)}.")
            return NOT_READ
        return value

    def lines(self, study, without_codes):
        return [f"{self.name} = {study.ensure_consent_version().number}"]

    def reference(self):
        return (self.name, "integer", "`1`", "The number of the consent text's version that participants see "
                "now; a study made from the file shows its text as this version (the export's consent_version).")

    @staticmethod
    def save(study, number):
        if number != 1:  # Study.save() made the text version 1
            study.consent_versions.filter(number=1).update(number=number)


@dataclass(frozen=True)
class Section:
    """A TOML table of settings ("" : the keys at the top of the file)."""

    name: str
    help: str
    entries: tuple

    def path(self, key):
        return f"{self.name}.{key}" if self.name else key


# --- Tables of related records ------------------------------------------------------------------------------

class Table:
    """An array of tables, [[key]], each row one related record. Subclasses have a `key`, a `help` and
    `row_keys` ((key, type, help) for the reference page), read rows into a value that `save(study, value)`
    stores, and write a study's rows."""

    def read_rows(self, rows, problems):
        """`rows` (the file's array, maybe missing: None) -> the value save() stores, or None when there is
        nothing more to check; problems named by key."""
        raise NotImplementedError

    def check(self, value, problems):
        """Problems of the whole table, the admin's way (after read_rows; the study is not saved yet)."""

    def hand_to_opening_checks(self, study, value):
        """Show the opening checks (Study.clean) the rows `value` is about to save, as the admin's form and inline
        formsets show them theirs; a table they do not read does nothing."""

    def save(self, study, value):
        raise NotImplementedError

    def export_rows(self, study, without_codes):
        """[(comment, {key: TOML-ready value})] in the file's order."""
        raise NotImplementedError

    def known_rows(self, rows, problems):
        """The rows as dicts with known keys only; a missing or non-array key and unknown keys are problems."""
        if rows is None:
            return []
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            problems.append(f"{self.key}: expected [[{self.key}]] tables, got {toml_value_or_type(rows)}.")
            return []
        known = [key for key, _, _ in self.row_keys]
        for number, row in enumerate(rows, start=1):
            for key in row:
                if key not in known:
                    problems.append(unknown_key(f"{self.key}[{number}]", key, known))
        return rows


def hash_of(relative_path, cache):
    """SHA-256 of a PNG under STIMULI_ROOT (None when the file is missing), read once per path."""
    if relative_path not in cache:
        path = Path(settings.STIMULI_ROOT) / relative_path
        cache[relative_path] = file_sha256(path) if path.is_file() else None
    return cache[relative_path]


class StimulusTable(Table):
    """[[stimuli]]: the study's stimuli, each named by the SHA-256 of its image's and map's PNG files, its model
    (variant) and its method. The instance must have those stimuli loaded (loaddata, generate_stimuli or
    import_stimuli); rows are written in the order of their image, model and method."""

    key = "stimuli"
    help = ("The stimuli the study shows: one table per stimulus (image + map). A study made from the file takes "
            "the stimuli of this instance with exactly these PNG files, model and method; load them first.")
    row_keys = (
        ("image", "text", "SHA-256 of the source image's PNG file (64 hex digits; `sha256sum`)."),
        ("map", "text", "SHA-256 of the saliency map's PNG file."),
        ("model", "text", "The variant that made the map: N, A, M1, M2, G or an imported model's name."),
        ("method", "text", "The explanation method: VG, IG, SG, GradCAM or an imported method's name."),
    )

    def read_rows(self, rows, problems):
        rows = self.known_rows(rows, problems)
        wanted = []
        for number, row in enumerate(rows, start=1):
            path = f"{self.key}[{number}]"
            values = {}
            for key, _, _ in self.row_keys:
                value = row.get(key)
                if not isinstance(value, str):
                    problems.append(f"{path}.{key}: {'missing' if value is None else 'expected a text'}; every "
                                    "stimulus names its image, map, model and method.")
                elif key in ("image", "map") and not SHA256.fullmatch(value):
                    problems.append(f"{path}.{key}: expected a SHA-256 (64 lower-case hex digits), got {value!r}.")
                else:
                    values[key] = value
            if len(values) == len(self.row_keys):
                wanted.append((path, values))
        before = len(problems)
        found = self.find(wanted, problems)
        return None if len(problems) > before or len(wanted) < len(rows) else found

    @staticmethod
    def find(wanted, problems):
        """The stimuli of `wanted` [(path, {image, map, model, method})] on this instance, in order."""
        candidates = Stimulus.objects.filter(
            variant__in={values["model"] for _, values in wanted},
            method__in={values["method"] for _, values in wanted}).select_related("source_image")
        cache, found = {}, {}
        for stimulus in candidates:
            key = (hash_of(stimulus.source_image.image, cache), hash_of(stimulus.heatmap, cache), stimulus.variant,
                   stimulus.method)
            found.setdefault(key, []).append(stimulus)
        chosen, seen = [], {}
        for path, values in wanted:
            key = (values["image"], values["map"], values["model"], values["method"])
            matches = found.get(key, [])
            if key in seen:
                problems.append(f"{path}: the same stimulus as {seen[key]}; list each stimulus once.")
            elif not matches:
                problems.append(f"{path}: this instance has no stimulus of model {values['model']!r} and method "
                                f"{values['method']!r} with these image and map files; load its stimuli first "
                                "(`manage.py loaddata`, `generate_stimuli` or `import_stimuli`).")
            elif len(matches) > 1:
                problems.append(f"{path}: {len(matches)} stimuli of this instance have these files, model and "
                                f"method (ids {', '.join(str(s.pk) for s in matches)}); the file cannot say which.")
            else:
                chosen.append(matches[0])
            seen.setdefault(key, path)
        return chosen

    def check(self, value, problems):
        """The admin form's own rule for the stimuli field (ModelMultipleChoiceField: at least one)."""
        try:
            Study._meta.get_field("stimuli").formfield().clean([stimulus.pk for stimulus in value])
        except ValidationError as error:
            problems.extend(f"{self.key}: {message}" for message in error.messages)

    def hand_to_opening_checks(self, study, value):
        study.stimuli_to_save = Stimulus.objects.filter(pk__in=[stimulus.pk for stimulus in value])

    def save(self, study, value):
        study.stimuli.set(value)

    def export_rows(self, study, without_codes):
        cache, rows = {}, []
        for stimulus in study.stimuli.select_related("source_image"):
            source = stimulus.source_image
            rows.append((f"{image_id(source.dataset, source.test_index, source.pk)} ({source.class_name})", {
                "image": hash_of(source.image, cache), "map": hash_of(stimulus.heatmap, cache),
                "model": stimulus.variant, "method": stimulus.method}))
        missing = sorted({path for path, digest in cache.items() if digest is None})
        if missing:
            raise StudyFileError([f"Stimulus PNG file {Path(settings.STIMULI_ROOT) / path} is missing: a study "
                                  "file names stimuli by their files' contents." for path in missing])
        return sorted(rows, key=lambda row: (row[1]["image"], row[1]["model"], row[1]["method"], row[1]["map"]))


@dataclass(frozen=True)
class OwnedRows(Table):
    """[[key]]: records of `model` that belong to the study (a ForeignKey `owner` to Study), one table each,
    with the keys of `settings` (Settings of `model`). Each row is checked by the model's own full_clean, then
    created with the study; rows are written in `order_by` order. `opening_rows`: the Study attribute through which
    the opening checks read the rows about to be saved ("" if they read none). For a study's blocks, conditions, ...:

        OwnedRows("blocks", Block, owner="study", order_by=("position",), settings=(
            Setting("position", model=Block), Setting("kind", model=Block), ...), opening_rows="blocks_to_save",
            help="...")
    """

    key: str
    model: type
    owner: str
    settings: tuple
    order_by: tuple = ("pk",)
    opening_rows: str = ""
    help: str = ""

    @property
    def row_keys(self):
        return tuple((key, kind, help_text) for key, kind, _, help_text in
                     (setting.reference() for setting in self.settings))

    def read_rows(self, rows, problems):
        records = []
        for number, row in enumerate(self.known_rows(rows, problems), start=1):
            path = f"{self.key}[{number}]"
            values = {s.field: s.read(row, f"{path}.{s.name}", problems) for s in self.settings}
            unread = [name for name, value in values.items() if value is NOT_READ]
            records.append((path, self.model(**{n: v for n, v in values.items() if n not in unread}), unread))
        return records

    def check(self, value, problems):
        given = {setting.field for setting in self.settings}
        others = [f.name for f in self.model._meta.fields if f.name not in given]  # the owner, ids, timestamps
        for path, record, unread in value:
            try:
                record.full_clean(exclude=[*others, *unread])
            except ValidationError as error:
                problems.extend(validation_problems(error, {s.field: f"{path}.{s.name}" for s in self.settings},
                                                    path))
        self.check_unique(value, problems)

    def check_unique(self, value, problems):
        """The model's uniqueness within its study (full_clean cannot see it before the study exists)."""
        keys = {s.field: s.name for s in self.settings}
        for constraint in self.model._meta.constraints:
            fields = getattr(constraint, "fields", ())
            if self.owner not in fields or getattr(constraint, "condition", None) is not None:
                continue
            names = [name for name in fields if name != self.owner]
            first = {}
            for path, record, unread in value:
                if any(name in unread for name in names):
                    continue
                key = tuple(getattr(record, name) for name in names)
                if key in first:
                    same = ", ".join(f"{keys[name]} = {toml_value_or_type(getattr(record, name))}" for name in names)
                    problems.append(f"{path}: {same} again ({first[key]} has it); each of a study's {self.key} "
                                    "needs its own.")
                first.setdefault(key, path)

    def hand_to_opening_checks(self, study, value):
        if self.opening_rows:
            setattr(study, self.opening_rows, [record for _, record, _ in value])

    def save(self, study, value):
        for _, record, _ in value:
            setattr(record, self.owner, study)
            record.save()

    def export_rows(self, study, without_codes):
        records = self.model.objects.filter(**{self.owner: study}).order_by(*self.order_by)
        return [("", {s.name: s.kind.write(getattr(record, s.field)) for s in self.settings
                      if not absent(getattr(record, s.field))}) for record in records]


# --- The schema ---------------------------------------------------------------------------------------------

def ending_settings():
    """Each ending's code (secret) and redirect URL, in Study.ENDING_FIELDS' order."""
    return tuple(setting for code, url in Study.ENDING_FIELDS.values()
                 for setting in (Setting(code, secret=True), Setting(url)))


SCHEMA = (
    Section("", "The study's link name, its title as participants see it, and the seed of every participant's "
                "plan.", (
        Setting("slug", help="The study's name in its links (/s/SLUG/) and in commands: letters, digits, - and "
                             "_. `create_study --slug` gives another."),
        Setting("title"), Setting("seed"))),
    Section("consent", "What participants agree to.", (Setting("consent_text", key="text"), ConsentVersionNumber())),
    Section("pages", "The rating and side-by-side pages.", (
        Setting("sufficiency_statement", help="The first statement of each rating page, answered on the 5-point "
                                              "scale."),
        Setting("trust_statement", help="The second statement of each rating page."), Setting("likert_labels"),
        Setting("comparison_count"), Setting("seconds_per_page"), Setting("map_legend"))),
    Section("design", "The conditions are the model x method cells of the study's stimuli; each participant's order "
                      "and positions are drawn from the study's seed.", (
        Setting("comparison"), Setting("views_per_image"))),
    Section("attention", "Instructed-response items and what failing them does.", (
        Setting("attention_checks"), Setting("attention_failure_ending"))),
    Section("recruitment", "Where people come from, how many places there are and how long a place is held.", (
        Setting("recruitment_source"), Setting("id_parameter"), Setting("is_open"), Setting("max_participants"),
        Setting("inactivity_limit"), Setting("unconsented_limit"), Setting("declared_minutes"))),
    Section("quality", "Thresholds of the data-quality flags and the console (flags never exclude anyone).", (
        Setting("speeder_sd"), Setting("speeder_min_completions"), Setting("page_floor_ms"),
        Setting("straightlining_share"), Setting("straightlining_min_ratings"), Setting("stuck_after"))),
    Section("endings", "Each ending's code (shown to the participant) and redirect URL.", ending_settings()),
    Section("bonus", "What the task blocks pay: a participant's score is their right answers above chance "
                     "(studyapp.scoring); bonus.csv lists the bonuses for Prolific's bulk bonus.", (
        Setting("bonus_per_correct"), Setting("bonus_cap"))),
)


def block_setting(name):
    return Setting(name, model=Block)


TABLES = (
    StimulusTable(),
    OwnedRows("blocks", Block, owner="study", order_by=("position",), settings=tuple(map(block_setting, (
        "position", "kind", "top_k", "images", "learning_images", "learning_guess", "show_true_class",
        "ask_true_class"))), opening_rows="blocks_to_save",
        help="The study's blocks, run in order of position (issue 29): one table per block. A study without "
             "blocks shows its rating pages, then its side-by-side pages. A setting the block's kind does not use "
             "must be left out (or at its default)."),
    OwnedRows("task_conditions", TaskCondition, owner="study", order_by=("pk",), settings=(
        Setting("model", model=TaskCondition), Setting("method", model=TaskCondition)),
        opening_rows="task_conditions_to_save",
        help="The task blocks' conditions between participants, in the order enrolment assigns them (evenly, in "
             f"order of consent): one table per condition, a model's maps by a method, or the model without maps "
             f"(method \"\" or left out: the control '{NO_MAP_CONDITION}')."),
)

# Study fields and relations that are not in the file, each with the reason (tests hold SCHEMA + NOT_IN_FILE to
# the model: a new Study field or related table must be added to one of them).
NOT_IN_FILE = {
    "id": "the database's own number for the study",
    "created_at": "set when the study is made",
    "copied_from": "a pilot copy's link to its original, within one database",
    "participants": "the study's data, not its definition (export_responses, the replication package)",
    "consent_versions": "the history of the study's consent texts on its instance: the file holds the current "
                        "text and its version number ([consent])",
    "console_events": "the instance's record of staff actions",
    "copies": "pilot copies made of the study on its instance",
    "is_pilot": "a pilot copy's mark, set by the admin's pilot action on its instance",
    "memberships": "who may see the study on its instance: accounts of that instance (manage.py members)",
    "api_tokens": "personal tokens of the instance's accounts, never written anywhere in plain text",
}


def settings_of(schema=SCHEMA):
    return [(section, entry) for section in schema for entry in section.entries]


def fields_in_file(schema=SCHEMA, tables=TABLES):
    """The Study fields and relations the file covers."""
    names = {entry.field for _, entry in settings_of(schema) if isinstance(entry, Setting)}
    return names | {table.key for table in tables}


# --- Reading ------------------------------------------------------------------------------------------------

def unknown_key(where, key, known):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(known)}."
    return f"{where}: unknown key {key!r}.{hint}"


def validation_problems(error, paths, fallback):
    """A ValidationError's messages named by file key: `paths` maps field names to keys."""
    problems = []
    for name, messages in error.message_dict.items():
        where = paths.get(name, fallback if name == NON_FIELD_ERRORS else name)
        problems.extend(f"{where}: {message}" for message in messages)
    return problems


@dataclass
class ParsedStudy:
    """A checked study file: the unsaved Study, and what saving it adds (entries' and tables' values)."""

    study: Study
    after_save: list = field(default_factory=list)  # [(entry or table, value)]

    @transaction.atomic
    def save(self):
        self.study.save()
        for entry, value in self.after_save:
            entry.save(self.study, value)
        return self.study


def parse(text, slug=None, stimuli=None, schema=SCHEMA, tables=TABLES):
    """The study `text` defines, checked, unsaved: ParsedStudy; StudyFileError naming every problem.

    `slug` replaces the file's slug. `stimuli` (a queryset or list) replaces the file's [[stimuli]]: the demo
    studies take the loaded maps of their kind (create_demo_study says which)."""
    problems = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyFileError([f"Not a TOML file: {error}."]) from None
    version = data.pop("format", FORMAT)
    if version != FORMAT:
        raise StudyFileError([f"format: this version reads study files of format {FORMAT}, got "
                              f"{toml_value_or_type(version)}."])
    sections = {section.name: section for section in schema if section.name}
    table_keys = {table.key: table for table in tables}
    top = next((section for section in schema if not section.name), Section("", "", ()))
    known = [entry.name for entry in top.entries] + list(sections) + list(table_keys)
    for key, value in data.items():
        if key in sections and not isinstance(value, dict):
            problems.append(f"{key}: expected a table [{key}], got {toml_value_or_type(value)}.")
        elif key not in known:
            problems.append(unknown_key("study file", key, ["format", *known]))
    if slug is not None:
        data["slug"] = slug
    values, after_save, paths = {}, [], {}
    for section in schema:
        table = data if not section.name else data.get(section.name, {})
        if not isinstance(table, dict):
            continue
        names = [entry.name for entry in section.entries]
        if section.name:
            problems.extend(unknown_key(f"[{section.name}]", key, names) for key in table if key not in names)
        for entry in section.entries:
            path = section.path(entry.name)
            value = entry.read(table, path, problems)
            if isinstance(entry, Setting):
                values[entry.field] = value
                paths[entry.field] = path
            elif value is not NOT_READ:
                after_save.append((entry, value))
    table_problems, rows, checked = [], [], []  # the tables come last in the file, and so do their problems
    for table in tables:
        before = len(table_problems)
        if stimuli is not None and isinstance(table, StimulusTable):
            value = list(stimuli)
        else:
            value = table.read_rows(data.get(table.key), table_problems)
        if value is not None:
            table.check(value, table_problems)
        rows.append((table, value))
        if value is not None and len(table_problems) == before:
            checked.append((table, value))
    unread = [name for name, value in values.items() if value is NOT_READ]
    study = Study(**{name: value for name, value in values.items() if name not in unread})
    # The opening checks (Study.clean) see the file's stimuli, blocks and conditions (those without problems of
    # their own), as the admin's form and formsets show them theirs: the unsaved study has none stored.
    for table, value in checked:
        table.hand_to_opening_checks(study, value)
    try:  # keys already named (missing or of the wrong type) are left to their problem
        study.full_clean(exclude=["copied_from", *unread])
    except ValidationError as error:
        problems += validation_problems(error, paths, "study")
        if "slug" in error.message_dict and Study.objects.filter(slug=study.slug).exists():
            problems.append(f"slug: study {study.slug!r} exists on this instance; give the new one another "
                            "slug (create_study --slug S).")
    problems += table_problems
    after_save += rows
    if problems:
        raise StudyFileError(problems)
    return ParsedStudy(study, after_save)


def create_study(text, slug=None, stimuli=None):
    """Make the study `text` defines: all of it or, with StudyFileError naming every problem, nothing."""
    return parse(text, slug, stimuli).save()


# --- Writing ------------------------------------------------------------------------------------------------

def dump(study, without_codes=False, schema=SCHEMA, tables=TABLES):
    """The study file of `study`. `without_codes`: the ending codes are left out, the study is written closed
    (`is_open = false`: it opens once you have set your codes), and a redirect URL holding its code literally
    gets the {code} placeholder in its place."""
    record = study
    if without_codes:
        record = Study.objects.get(pk=study.pk)  # a copy to write from; nothing is saved
        record.is_open = False
        for code, url in Study.ENDING_FIELDS.values():
            secret = getattr(record, code)
            if secret and secret in getattr(record, url):
                setattr(record, url, getattr(record, url).replace(secret, "{code}"))
    lines = [HEADER.rstrip("\n"), f"format = {FORMAT}"]
    if without_codes:
        lines.append("# Written with --without-codes: set your own ending codes before opening the study.")
    for section in schema:
        lines += [""] + ([f"[{section.name}]"] if section.name else [])
        for entry in section.entries:
            lines += entry.lines(record, without_codes)
    for table in tables:
        for comment, row in table.export_rows(record, without_codes):
            lines += ["", f"[[{table.key}]]" + (f"  # {comment}" if comment else "")]
            lines += [f"{toml_key(key)} = {toml_value(value)}" for key, value in row.items()]
    return "\n".join(lines) + "\n"


# --- The reference page -------------------------------------------------------------------------------------

def markdown_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown(schema=SCHEMA, tables=TABLES):
    """docs/reference/study-file.md: every key of the format, from SCHEMA (devtools/reference_docs.py writes it)."""
    lines = [
        "# Study file reference",
        "",
        "<!-- Generated from studyapp/studyfile.py by `.venv/bin/python -m devtools.reference_docs`; do not edit. "
        "-->",
        "",
        f"A study file (format {FORMAT}) is a TOML file that defines a study: `manage.py export_study SLUG "
        "study.toml` (with `--without-codes`, without the codes) writes one, `manage.py create_study study.toml` "
        "(with `--slug S`, under another slug) makes the study "
        "it defines. `create_study` checks the file as the admin checks a study (the same validation), names "
        "every problem by its key and writes nothing unless the whole file is right. An unknown key is an error. "
        "`--without-codes` leaves out the keys marked so below, writes `is_open = false` and puts the `{code}` "
        "placeholder where a redirect URL held its code.",
        "",
        "A missing key takes its default; TOML has no empty value, so a setting that is not set (\"not set\" "
        "below; \"blank\" in a meaning) is a missing key, or `\"\"` for a text. `format = 1` may open the file. Texts "
        "are in quotes; a text of several lines between `\"\"\"`. Durations are texts such as `\"2:00:00\"` "
        "(hours:minutes:seconds) or `\"1 02:00:00\"` (with days).",
        "",
        "How to add a setting to the format: see [the replication package how-to]"
        "(../how-to/replication-package.md#adding-to-the-study-file).",
        "",
    ]
    for section in schema:
        title = f"`[{section.name}]`" if section.name else "Top-level keys"
        lines += [f"## {title}", "", section.help, "", "| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(markdown_cell(cell) for cell in (f"`{key}`", kind, default, help_text)) + " |"
                  for key, kind, default, help_text in (entry.reference() for entry in section.entries)]
        lines.append("")
    for table in tables:
        lines += [f"## `[[{table.key}]]`", "", table.help, "", "| Key | Type | Meaning |", "|---|---|---|"]
        lines += [f"| `{key}` | {kind} | {markdown_cell(help_text)} |" for key, kind, help_text in table.row_keys]
        lines.append("")
    lines += ["## Not in the file", "", "| Study field | Why |", "|---|---|"]
    lines += [f"| `{name}` | {markdown_cell(reason)} |" for name, reason in NOT_IN_FILE.items()]
    return "\n".join(lines) + "\n"

