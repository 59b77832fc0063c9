"""The replication package (`manage.py package`) and its check (`manage.py reproduce`), laid out as Psych-DS 0.4
asks. Django-free: the command gathers the study's parts (studyapp.replication) and passes the HTML renderer.

    DIR/dataset_description.json   schema.org Dataset; variableMeasured: every column of every data file
    DIR/data/study-<s>_task-rating_data.csv, ..._task-choice_..., ..._description-participants_...,
             ..._description-stimuli_data.csv, [..._task-tasks_data.csv]   (the export's shareable files under
             Psych-DS keyword names; tasks.csv where the study has task answers)
    DIR/materials/  study.toml, consent/, stimuli/ (PNGs, manifest.csv, provenance.json), pages/, [power.json]
    DIR/analysis/   analyze's report (results.json, tables/, figures/, report.*), exclusions.csv, provenance.json
    DIR/prereg.md, DIR/README.md, DIR/CHECKSUMS.sha256 (sha256sum's format, every other file)

The analysis is run from the package's own data files, exactly as `reproduce` reruns it: `analyze --ratings ...
--choices ... --participants ... [--stimuli ...] [--tasks ...]` with the recorded options. `reproduce` checks the
checksums, reruns that analysis, and compares every number of DIR/analysis/results.json and DIR/analysis/tables/*.csv
with the rerun's within a stated tolerance (TOLERANCE), naming each number that differs.
"""

import csv
import json
import math
import re
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from analysis import display, writers
from analysis.loading import has_metrics, rated_stimuli, read_export
from analysis.pipeline import Options, option_flags, run_analysis
from saliency.files import file_sha256, json_ready
from studyapp import codebook
from studyapp.schema import (
    CHOICES_FILE, CSV_LINE_END, OPTION_SEPARATOR, PARTICIPANTS_FILE, RATINGS_FILE, STIMULI_FILE, TASKS_FILE,
)

PSYCH_DS = "Psych-DS 0.4.0"
DATA, MATERIALS, ANALYSIS = "data", "materials", "analysis"
CHECKSUMS = "CHECKSUMS.sha256"
DESCRIPTION = "dataset_description.json"
PROVENANCE = f"{ANALYSIS}/provenance.json"
RESULTS = f"{ANALYSIS}/results.json"
TABLES = f"{ANALYSIS}/tables"
EXCLUSIONS = f"{ANALYSIS}/exclusions.csv"
# Each data file's Psych-DS keywords after study-<label> (official keywords: task, description): the files a package
# may hold (studyapp.replication.SHARED_FILES), no other. The task blocks' answers stay one file, as the export
# writes them and `analyze --tasks` reads them: its `task` column names each row's task, and the checks that span
# blocks (each participant in one condition, each block of one task) read them together.
DATA_KEYWORDS = {RATINGS_FILE: "task-rating", CHOICES_FILE: "task-choice",
                 PARTICIPANTS_FILE: "description-participants", STIMULI_FILE: "description-stimuli",
                 TASKS_FILE: "task-tasks"}
ANALYSIS_INPUTS = {"ratings": RATINGS_FILE, "choices": CHOICES_FILE, "participants": PARTICIPANTS_FILE,
                   "stimuli": STIMULI_FILE, "tasks": TASKS_FILE}  # analyze's option -> the export file it reads
# Psych-DS's file-name rule for data files (its schema's fileRegex).
DATA_FILE_NAME = re.compile(r"([a-z]+-[a-zA-Z0-9]+)(_[a-z]+-[a-zA-Z0-9]+)*_data\.csv")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-8}  # |shipped - rerun| <= atol + rtol * max(|shipped|, |rerun|)
TO_WRITE = "**[Researcher: {}]**"


class PackageError(ValueError):
    """Why a package cannot be made; nothing was written."""


def keyword_label(slug):
    """A Psych-DS keyword value (letters and digits only) from a study's slug: "pilot-2" -> "pilot2"."""
    return re.sub(r"[^A-Za-z0-9]", "", slug) or "study"


def data_file(slug, export_file):
    """The package path of an export file, e.g. data/study-demo_task-rating_data.csv."""
    return f"{DATA}/study-{keyword_label(slug)}_{DATA_KEYWORDS[export_file]}_data.csv"


@dataclass
class Parts:
    """What the package is made of, gathered from the study (studyapp.replication and the command)."""

    facts: dict  # studyapp.replication.study_facts
    frames: dict  # export file name -> frame (replication.shared_frames)
    study_toml: str
    stimulus_files: list  # replication.StimulusFile
    stimulus_manifest: pd.DataFrame
    generation: dict  # replication.generation_provenance
    consent: list  # [(number, text)]
    pages: dict  # page type -> HTML
    options: Options
    software: dict  # versions, commit, the package command line
    secrets: list  # strings no file may hold
    power: dict | None = None  # plan_study's power.json
    without_justifications: bool = False


@dataclass
class Made:
    analysis: object  # analysis.pipeline.Analysis
    seconds: float  # the analysis' runtime
    files: int  # files in the package


# --- Writing ------------------------------------------------------------------------------------------------

def write_package(folder, parts, render_html):
    """Every file of the package into the empty `folder`; PackageError (or the analysis' InputError) when it
    cannot be made. Returns Made."""
    folder = Path(folder)
    slug = parts.facts["slug"]
    frames = dict(parts.frames)
    unknown = sorted(set(frames) - set(DATA_KEYWORDS))
    if unknown:
        raise PackageError(f"A package shares only {', '.join(DATA_KEYWORDS)}; not {', '.join(unknown)} "
                           "(recruitment.csv, review.csv and bonus.csv carry platform IDs).")
    frames[STIMULI_FILE] = rated_stimuli(frames[STIMULI_FILE], frames[RATINGS_FILE], frames.get(TASKS_FILE))
    (folder / DATA).mkdir()
    for name, frame in frames.items():
        frame.to_csv(folder / data_file(slug, name), index=False, lineterminator=CSV_LINE_END)
    inputs = {option: data_file(slug, name) for option, name in ANALYSIS_INPUTS.items()
              if name in frames and (name != STIMULI_FILE or has_metrics(frames[STIMULI_FILE]))}
    started = time.perf_counter()
    analysis = analyse(folder, inputs, parts.options)
    (folder / ANALYSIS).mkdir()
    writers.write_outputs(folder / ANALYSIS, analysis, render_html)
    seconds = time.perf_counter() - started
    write_csv(folder / EXCLUSIONS, ["participant", "reason"], analysis.sample.exclusions.items())
    write_json(folder / PROVENANCE, {
        "made_by": parts.software["command"], "analysis_command": analysis_command(inputs, parts.options),
        "inputs": inputs, "options": asdict(parts.options), "software": parts.software,
        "analysis_seconds": round(seconds, 2), "tolerance": TOLERANCE})
    write_materials(folder, parts)
    write_json(folder / DESCRIPTION, dataset_description(parts.facts, frames, parts.without_justifications))
    (folder / "prereg.md").write_text(prereg_markdown(parts, analysis, inputs), encoding="utf-8")
    (folder / "README.md").write_text(readme_markdown(parts, analysis, inputs, seconds, folder), encoding="utf-8")
    leaks = secrets_found(folder, parts.secrets)
    if leaks:
        raise PackageError("A file of the package holds a participant's platform ID, username or invite token, or "
                           "an ending code:\n" + "\n".join(leaks) + "\nFind it in the exclusion reasons or the "
                           "justifications (or leave those out with --without-justifications).")
    write_checksums(folder)
    return Made(analysis, seconds, sum(1 for path in folder.rglob("*") if path.is_file()))


def analyse(folder, inputs, options):
    data = read_export(*(folder / inputs[name] if name in inputs else None for name in ANALYSIS_INPUTS))
    return run_analysis(data, options)


def analysis_command(inputs, options):
    files = [f"--{option} {path}" for option, path in inputs.items()]
    return " ".join(["manage.py analyze", *files, *option_flags(options), f"--out {ANALYSIS}"])


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                    encoding="utf-8")


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=CSV_LINE_END)
        writer.writerow(header)
        writer.writerows(rows)


def write_materials(folder, parts):
    materials = folder / MATERIALS
    (materials / "study.toml").parent.mkdir(parents=True)
    (materials / "study.toml").write_text(parts.study_toml, encoding="utf-8")
    for number, text in parts.consent:
        path = materials / "consent" / f"consent-v{number}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    stimuli = materials / "stimuli"
    stimuli.mkdir()
    for item in parts.stimulus_files:
        (stimuli / item.name).write_bytes(item.path.read_bytes())
        if file_sha256(stimuli / item.name) != item.sha256:
            raise PackageError(f"Stimulus file {item.path} changed while it was copied; make the package again.")
    parts.stimulus_manifest.to_csv(stimuli / "manifest.csv", index=False, lineterminator=CSV_LINE_END)
    write_json(stimuli / "provenance.json", parts.generation)
    for name, html in parts.pages.items():
        path = materials / "pages" / f"{name}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    if parts.power is not None:
        write_json(materials / "power.json", parts.power)


def package_files(folder):
    """Every file of a package folder, as sorted relative POSIX paths, CHECKSUMS.sha256 left out."""
    folder = Path(folder)
    names = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return sorted(name for name in names if name != CHECKSUMS)


def write_checksums(folder):
    lines = [f"{file_sha256(Path(folder) / name)}  {name}" for name in package_files(folder)]
    (Path(folder) / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


# The files a researcher fills in after `package` (the fields marked TO_WRITE); `package --rehash` takes their
# new checksums, and no other change.
FILLED_IN = ("README.md", "prereg.md", DESCRIPTION)


def rehash(folder, name):
    """After the researcher filled in FILLED_IN: their new checksums, and the zip again (`name`: the package's
    folder name in the zip). PackageError, changing nothing, when any other file changed, went or came."""
    folder = Path(folder)
    problems = verify_checksums(folder)
    changed = [problem.split(":", 1)[0] for problem in problems if problem.endswith("the file was changed.")]
    others = [problem for problem in problems if problem.split(":", 1)[0] not in FILLED_IN
              or not problem.endswith("the file was changed.")]
    if others:
        raise PackageError("Only README.md, prereg.md and dataset_description.json may change after packaging; "
                           "make the package again instead:\n" + "\n".join(others))
    try:
        json.loads((folder / DESCRIPTION).read_text(encoding="utf-8"))
    except ValueError as error:
        raise PackageError(f"{DESCRIPTION} is no longer valid JSON: {error}.") from error
    write_checksums(folder)
    archive = folder.with_name(folder.name + ".zip")
    writing = folder.with_name(f".{folder.name}.zip.writing")
    try:
        zip_package(folder, writing, name)
        writing.replace(archive)
    finally:
        writing.unlink(missing_ok=True)
    return changed


def secrets_found(folder, secrets):
    """'file: what' for every file that holds one of `secrets` (bytes, so PNGs and every text file are read)."""
    found = []
    encoded = [(secret, secret.encode("utf-8")) for secret in secrets]
    for name in package_files(folder):
        data = (Path(folder) / name).read_bytes()
        hits = [secret for secret, raw in encoded if raw in data]
        if hits:
            found.append(f"{name}: {len(hits)} of them")
    return found


def zip_package(folder, archive, name):
    """`archive`: the package folder as a zip, its files in a folder `name` (the package's)."""
    folder = Path(folder)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in [*package_files(folder), CHECKSUMS]:
            handle.write(folder / path, f"{name}/{path}")


# --- dataset_description.json -------------------------------------------------------------------------------

def variables_measured(frames, slug, without_justifications=False):
    """One schema.org PropertyValue per column name of the data files (each name once, in file order), with the
    codebook's description, levels, minimum and maximum of that column in that file (codebook.column_entry); code
    columns without fixed levels (models, methods) list the levels found in the data. A name whose meaning differs
    between the files that hold it (tasks.csv's `confidence` is the participant's 1-5, stimuli.csv's the model's
    probability) is described per file, each file's meaning and values named, and carries only the levels and
    bounds that every one of them shares."""
    found, meanings = {}, {}
    for file, frame in frames.items():
        for name in frame.columns:
            values = frame[name].dropna().astype(str)
            found.setdefault(name, set()).update(values[values != ""])
            meanings.setdefault(name, {})[file] = codebook.column_entry(file, name)
    variables = []
    for name, per_file in meanings.items():
        entries = list(per_file.values())
        levels = [entry["levels"] or (sorted(found[name]) if entry["type"] == codebook.CODE else None)
                  for entry in entries]
        if all(entry == entries[0] for entry in entries):
            description = entry_text(entries[0])
        else:
            description = f"The files give {name} different meanings. " + " ".join(
                f"In {data_file(slug, file)}: {entry_text(entry, with_range=True)}" for file, entry in per_file.items())
        if name == "justification" and without_justifications:
            description += " Left out of this package (--without-justifications): every cell is empty."
        variable = {"@type": "PropertyValue", "name": name, "description": description}
        if levels[0] and all(level == levels[0] for level in levels):
            variable["levels"] = levels[0]
        for key, field in (("minValue", "minimum"), ("maxValue", "maximum")):
            if entries[0][field] is not None and all(entry[field] == entries[0][field] for entry in entries):
                variable[key] = entries[0][field]
        variables.append(variable)
    return variables


def entry_text(entry, with_range=False):
    """A codebook entry as variableMeasured describes it: meaning, type, allowed values (and, `with_range`, the
    least and greatest value, where the entry states them)."""
    bounds = [f"{field} {entry[field]}" for field in ("minimum", "maximum") if with_range and entry[field] is not None]
    allowed = f" Allowed: {entry['allowed']}." if entry["allowed"] else ""
    return f"{entry['meaning']} Type: {entry['type']}.{allowed}" + (f" Values: {', '.join(bounds)}." if bounds else "")


def dataset_description(facts, frames, without_justifications):
    ratings = frames[RATINGS_FILE]
    tasks = frames.get(TASKS_FILE)
    return {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "name": facts["title"],
        "description": (
            f"Answers of the {facts['counts']['consented']} participants who took part in the human study "
            f"\"{facts['title']}\" of saliency-map explanations (made with Saliency Study): {len(ratings)} ratings "
            f"of image and saliency-map pairs on two statements, {len(frames[CHOICES_FILE])} side-by-side choices, "
            + (f"{len(tasks)} answers to the scored questions of task blocks ({', '.join(task_kinds(tasks))}), "
               if tasks is not None else "")
            + "the participants' progress, background and data-quality flags, and the rated stimuli with their "
            "explanation metrics. Without platform IDs, withdrawn or erased participants, or researchers' "
            "previews. The study, its stimuli and pages are in materials/, the analysis in analysis/."),
        "schemaVersion": PSYCH_DS,
        "keywords": ["saliency maps", "explainable AI", "human evaluation", "Likert ratings"]
                    + (["human-AI decision tasks"] if tasks is not None else []),
        "license": "FILL IN: the data's licence (README.md, License for data)",
        "author": [{"@type": "Person", "name": "FILL IN: the authors"}],
        "temporalCoverage": facts["dates"],
        "variableMeasured": variables_measured(frames, facts["slug"], without_justifications),
    }


def task_kinds(tasks):
    """The task types of a tasks.csv frame, in the order of their first block."""
    return list(dict.fromkeys(tasks.sort_values("block", kind="stable")["task"].astype(str)))


# --- prereg.md and README.md --------------------------------------------------------------------------------

def conditions_text(facts):
    cells = [f"{model}×{method}" if len(facts["methods"]) > 1 else model for model, method in facts["conditions"]]
    return f"{len(cells)} conditions ({', '.join(cells)})"


def report_tables(analysis):
    """The report's tables, as analysis/ holds them (the participant flow apart)."""
    return [*display.display_tables(analysis), *display.factor_tables(analysis), *display.metric_tables(analysis),
            *display.task_tables(analysis)]


def analysis_lines(analysis):
    return [f"- {table.title}: {table.caption}" for table in report_tables(analysis)] + [
        f"- {line}" for line in display.method_lines(analysis) + display.task_lines(analysis)]


def maps_text(choices):
    """How many maps a side-by-side page showed, in words, from choices.csv's map_count (2 to 4 where none was
    answered yet)."""
    counts = sorted(set(choices["map_count"].dropna().astype(int))) if len(choices) else []
    words = {2: "two", 3: "three", 4: "four"}
    return " or ".join(words[c] for c in counts) if counts else "2 to 4"


def tasks_lines(parts, analysis):
    """prereg.md's dependent variables and conditions of the task blocks ([], [] without task answers)."""
    tasks = parts.frames.get(TASKS_FILE)
    if tasks is None:
        return [], []
    conditions = analysis.tables["task_conditions"]
    arms = [f"{r['condition']} ({r['model']})" if r["condition"] == "none" else r["condition"]
            for _, r in conditions.iterrows()]
    options = tasks["options"].astype(str).str.count(re.escape(OPTION_SEPARATOR)) + 1
    return ([f"- Task blocks ({', '.join(task_kinds(tasks))}): each scored question answered right or wrong "
             f"(`correct`: `answer` equals `correct_answer`, among {options.min()}-{options.max()} options shown), "
             "with the participant's confidence from 1 (not confident at all) to 5 (completely confident) "
             "(`confidence` of the tasks file; stimuli.csv's `confidence` is the model's probability)."],
            [f"Task blocks: {len(arms)} conditions between participants ({', '.join(arms)}), assigned evenly at "
             "enrolment; a none participant sees no map and judges the answers of the model named."])


def prereg_markdown(parts, analysis, inputs):
    """AsPredicted's nine questions, answered from the study, its analysis and its power plan; what only the
    researcher can write is marked."""
    f, o = parts.facts, parts.options
    task_measures, task_conditions = tasks_lines(parts, analysis)
    labels = f["likert_labels"]
    scale = f"a 5-point scale (1 = {labels[0]} ... 5 = {labels[-1]})"
    plan = parts.power
    lines = [
        f"# Pre-registration: {f['title']}", "",
        "Answers to AsPredicted's nine questions, drafted by `manage.py package` from the study's settings "
        "(materials/study.toml), its analysis (analysis/)" + (" and its power plan (materials/power.json, "
                                                                "`manage.py plan_study`)" if plan else "")
        + ". " + TO_WRITE.format("...") + " marks what only you can write; check the rest before you submit it.", "",
        "## 1. Data collection", "", "Have any data been collected for this study already?", "",
        TO_WRITE.format("answer for the day you register, e.g. \"No, no data have been collected for this study "
                        "yet.\"")
        + f" When this package was made ({f['made_on']}), {f['counts']['consented']} people had consented and "
          f"{f['counts']['completed']} had completed the study.", "",
        "## 2. Hypothesis", "", "What's the main question being asked or hypothesis being tested in this study?", "",
        TO_WRITE.format("write your hypothesis and its direction.")
        + f" The study compares {conditions_text(f)} on how sufficient participants find a saliency map to "
          "understand the prediction and how far it lets them trust the model, and which map they choose side "
          "by side.",
    ]
    if plan:
        lines.append(f"The power plan assumed this design: {json.dumps(plan.get('design'), ensure_ascii=False)}.")
    lines += [
        "", "## 3. Dependent variable", "", "Describe the key dependent variable(s) specifying how they will be "
        "measured.", "",
        f"- Sufficiency: agreement with \"{f['statements'][0]}\" on {scale}, for each image and saliency map "
        "shown (ratings; `sufficiency`).",
        f"- Trust: agreement with \"{f['statements'][1]}\" on the same scale (`trust`).",
        f"- Side-by-side choice: on {f['comparisons']} page(s) per participant, one image's "
        f"{maps_text(parts.frames[CHOICES_FILE])} maps (differing in their {f['comparison']}) side by side; the "
        "participant chooses the most comprehensible one and justifies the choice in writing (`chosen_model`, "
        "`justification`).",
        *task_measures,
        "", "## 4. Conditions", "", "How many and which conditions will participants be assigned to?", "",
        f"{conditions_text(f)}, varied within participants: the model x method cells of the study's "
        f"{f['stimuli']} stimuli of {f['images']} images. {f['design']} Each participant gets {f['length']}. "
        f"Orders and side-by-side positions are drawn from seeds derived from the study's seed ({f['seed']}) and "
        "recorded; participants are not told which model or method made a map.",
        *task_conditions,
        "", "## 5. Analyses", "", "Specify exactly which analyses you will conduct to examine the main "
        "question/hypothesis.", "",
        f"`{analysis_command(inputs, o)}` (Saliency Study {parts.software['version']}), alpha = {o.alpha}. Its "
        "report has these tables:", "", *analysis_lines(analysis), "",
        TO_WRITE.format("name the test that decides your hypothesis (the primary test)."),
        "", "## 6. Outliers and exclusions", "", "Describe exactly how outliers will be defined and handled, and "
        "your precise rule(s) for excluding observations.", "",
        f"- Attention checks: {f['attention']}",
        f"- Data-quality flags, shown on the console and never excluding anyone by themselves: {f['flags']}",
        "- Exclusions: the researcher decides on the console, with a reason that is kept; the analysis then "
        + ("keeps them (--include-excluded)" if o.include_excluded else "leaves them out")
        + "." + (" Participants who failed an attention check are left out (--exclude-failed-attention)."
                 if o.exclude_failed_attention else "")
        + (" Only participants who completed the study are analysed (--completed-only)." if o.completed_only
           else " Participants who did not complete contribute the answers they gave."),
        "- Withdrawn and erased participants' answers are deleted and never analysed.",
        TO_WRITE.format("state the rules by which you will decide exclusions on the console."),
        "", "## 7. Sample size", "", "How many observations will be collected or what will determine sample "
        "size?", "",
        f"- Places: {f['places']}.",
    ]
    if plan:
        lines += [f"- Power by simulation (`manage.py plan_study`: {plan.get('simulations')} simulated studies per "
                  f"sample size, seed {plan.get('seed')}, alpha {plan.get('alpha')}; the smallest sample with "
                  f"at least {plan.get('target_power', 0.8):.0%} power):",
                  *[f"  - {line}" for line in plan.get("answers", [])],
                  TO_WRITE.format("state the number you will collect and your stopping rule.")]
    else:
        lines.append(TO_WRITE.format("state the number you will collect, why (e.g. `manage.py plan_study`; pass "
                                     "its power.json to `package --power`), and your stopping rule."))
    lines += [
        "", "## 8. Other", "", "Anything else you would like to pre-register?", "",
        "- Exploratory: the stimuli's explanation metrics (Gini, RIS, ROS, ROAD AOPC, SSIM) against the ratings, "
        "the justifications, and the participants' background (highest degree, years of computer-vision "
        "experience).",
        TO_WRITE.format("anything else."),
        "", "## 9. Name", "", "Give a title for this AsPredicted pre-registration.", "",
        f"\"{f['title']}\" " + TO_WRITE.format("check the title."), "",
    ]
    return "\n".join(lines)


EXTRA_TABLES = {"justifications.csv": "Justifications: every one, by chosen model"}


def result_files(folder, analysis):
    """(path, what) for every file `analyze` wrote in analysis/: the report's table or figure each holds."""
    titles = {}
    for table in filter(None, [display.flow_table(analysis), *report_tables(analysis)]):
        for name in table.csv.split(", "):
            titles.setdefault(name, table.title)
    figures = dict(display.figure_titles(analysis))
    rows = []
    for path in sorted((Path(folder) / ANALYSIS).rglob("*")):
        name = path.relative_to(folder).as_posix()
        if not path.is_file() or name in (EXCLUSIONS, PROVENANCE):
            continue
        what = {"results.json": "every number of the report", "report.html": "the report",
                "report.md": "the report (Markdown)"}.get(path.name)
        if path.parent.name == "tables":
            what = titles.get(path.name) or EXTRA_TABLES.get(path.name, f"table {path.stem} of results.json")
        elif path.parent.name == "figures":
            what = figures.get(path.stem, "figure")
        rows.append((name, what))
    return rows


def readme_markdown(parts, analysis, inputs, seconds, folder):
    """The data editors' template README (Social Science Data Editors): provenance, licences to fill in,
    requirements, seeds, runtime and which command makes each result file."""
    f, s, o = parts.facts, parts.software, parts.options
    c = f["counts"]
    fill = TO_WRITE.format
    slug = f["slug"]
    generated = (parts.generation or {}).get("generated") or {}
    seeds = sorted({entry["training"]["seed"] for entry in generated.get("checkpoints", [])
                    if entry.get("training") and "seed" in entry["training"]})
    lines = [
        f"# Replication package: {f['title']}", "",
        fill("fill in every field marked like this (and the license and author of dataset_description.json), "
             "then run `manage.py package --rehash` on this folder before you publish it."), "",
        "## Overview", "",
        f"The data, materials and analysis of the human study \"{f['title']}\" of saliency-map explanations, "
        f"run with Saliency Study. `manage.py reproduce` checks every file against CHECKSUMS.sha256, reruns the "
        f"analysis from data/ alone (no database) and compares every number with analysis/results.json and "
        f"analysis/tables/; the analysis took {seconds:.0f} s here.", "",
        "## Data availability and provenance statements", "",
        "### Statement about rights", "",
        "- [ ] I certify that the author(s) of the manuscript have legitimate access to and permission to use the "
        "data used in this manuscript. " + fill("tick"),
        "- [ ] I certify that the author(s) of the manuscript have documented permission to redistribute/publish "
        "the data contained within this replication package. " + fill("tick"), "",
        "### License for data", "", fill("the data's licence, e.g. CC BY 4.0; also dataset_description.json's "
                                         "license and author."), "",
        "### Summary of availability", "", "- [x] All data are publicly available: they are in this package.", "",
        "### Details on each data source", "",
        f"The participants' answers were collected with Saliency Study ({s['version']}) from "
        f"{f['dates'].replace('/', ' to ')}: "
        f"{c['arrived']} people arrived ({f['source']}), {c['consented']} consented, {c['completed']} completed. "
        f"Left out: platform IDs (no file holds one), {c['withdrawn']} withdrawn and {c['erased']} erased "
        f"participants (their answers were deleted) and {c['previews']} researchers' previews. Participants are "
        "named by pseudonyms (P0001, ...) that nothing here links to a person. Justifications: "
        + ("left out (`--without-justifications`); the column is empty." if parts.without_justifications else
           "kept as the participants wrote them, as the report keeps them (`--without-justifications` leaves "
           "them out)."),
        f"The stimuli ({len(parts.stimulus_manifest)} image + map pairs of {f['images']} images) are in "
        "materials/stimuli/ with manifest.csv (each file's SHA-256, model and method, and whether a page showed "
        "it) and provenance.json (the rendering settings, each checkpoint's SHA-256 and training settings, or the "
        "imported maps).", "",
        "## Dataset list", "", "| Data file | Source | Notes | Provided |", "|---|---|---|---|",
        *[f"| {data_file(slug, name)} | `export_responses`' {name} | {codebook.FILE_MEANINGS[name]} | Yes |"
          for name in DATA_KEYWORDS if name in parts.frames],
        "| materials/study.toml | `export_study --without-codes` | The study's settings; `create_study` makes it "
        "again on an instance with its stimuli. | Yes |",
        "| materials/consent/ | the study's consent versions | Each text participants agreed to | Yes |",
        "| materials/pages/ | the survey's pages | One snapshot of each page type as a participant sees it | "
        "Yes |",
        "| dataset_description.json | `package` | Psych-DS metadata: every column's meaning and values | Yes |",
        "",
        "## Computational requirements", "", "### Software requirements", "",
        f"- Python {s['python']}",
        f"- Saliency Study {s['version']}" + (f", git commit {s['commit']}" if s.get("commit") else "")
        + (" (with uncommitted changes)" if s.get("dirty") else ""),
        *[f"- {name} {version}" for name, version in s["packages"].items()],
        "", "### Controlled randomness", "",
        f"- Analysis seed {o.seed} (`analyze --seed`): the ordinal and mixed models' subsamples on very large data"
        + ("; the task section's participant-bootstrap intervals (each row's stream in its table)."
           if TASKS_FILE in parts.frames else "."),
        f"- Study seed {f['seed']} (materials/study.toml): every participant's order and side-by-side positions.",
        "- Stimuli: " + (f"generate_stimuli seed(s) {', '.join(map(str, seeds))} (materials/stimuli/"
                         "provenance.json)." if seeds else "see materials/stimuli/provenance.json."),
        "", "### Memory, runtime, storage requirements", "",
        f"- The analysis took {seconds:.1f} s on the machine that made the package ({s['machine']}); it needs no "
        "GPU and no database.",
        f"- data/ holds {sum(p.stat().st_size for p in (Path(folder) / DATA).iterdir()) / 1e6:.1f} MB; the "
        "analysis reads it into memory.", "",
        "## Description of programs/code", "",
        f"The analysis is Saliency Study's `analysis` app at the version above, run as `{analysis_command(inputs, o)}`"
        ". analysis/provenance.json records that command, its options and the software's versions.", "",
        "### License for code", "", fill("the code's licence."), "",
        "## Instructions to replicators", "",
        "1. Get Saliency Study at the commit above and install it (`make install`, or "
        "`pip install -c constraints.txt -e .`).",
        "2. Run `.venv/bin/python manage.py reproduce PATH/TO/THIS/FOLDER`. It checks every file against "
        "CHECKSUMS.sha256 (as `sha256sum -c CHECKSUMS.sha256` does), reruns the analysis from data/ with the "
        "recorded options and compares every number with analysis/results.json and analysis/tables/*.csv: equal "
        f"within |shipped - rerun| <= {TOLERANCE['atol']} + {TOLERANCE['rtol']} x the larger magnitude (`--rtol`, "
        "`--atol`). It exits 0 when all match, and otherwise names each file and number that differs.",
        "3. `--keep DIR` keeps the rerun's report (figures included) to look at.", "",
        "## List of tables and programs", "",
        f"- (A): `{analysis_command(inputs, o)}`, run in this folder; `manage.py reproduce` reruns it.",
        f"- (P): `{s['command']}`, on the study's instance.", "",
        "| Result file | Holds | Made by |", "|---|---|---|",
        *[f"| {name} | {what} | (A) |" for name, what in result_files(folder, analysis)],
        f"| {EXCLUSIONS} | every excluded participant with the rule that excluded them | (A), written by (P) |",
        f"| {PROVENANCE} | the analysis command, its options and the software's versions | (P) |", "",
        "## References", "",
        "- Psych-DS 0.4: https://psych-ds.github.io/",
        "- Template README for social science replication packages: "
        "https://social-science-data-editors.github.io/template_README/",
        "- AsPredicted (prereg.md): https://aspredicted.org/", "",
        "## Acknowledgements", "", fill("funding and thanks."), "",
        f"Package made by `{s['command']}`.", "",
    ]
    return "\n".join(lines)


# --- reproduce ----------------------------------------------------------------------------------------------

@dataclass
class Check:
    problems: list  # files that fail their checksums
    differences: list  # numbers (and texts) of the results that differ
    compared: int = 0  # values compared

    @property
    def ok(self):
        return not self.problems and not self.differences


def verify_checksums(folder):
    """Every problem with CHECKSUMS.sha256: a file missing, changed, or not covered."""
    folder = Path(folder)
    listing = folder / CHECKSUMS
    if not listing.is_file():
        return [f"{CHECKSUMS} is missing: this folder is not a whole replication package."]
    problems, listed = [], set()
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        found = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not found:
            problems.append(f"{CHECKSUMS} line {number} is not '<sha256>  <file>': {line[:80]!r}")
            continue
        digest, name = found.groups()
        listed.add(name)
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: listed in {CHECKSUMS} but missing.")
        elif file_sha256(path) != digest:
            problems.append(f"{name}: its SHA-256 differs from {CHECKSUMS}: the file was changed.")
    problems += [f"{name}: not in {CHECKSUMS}." for name in package_files(folder) if name not in listed]
    return problems


def reproduce(folder, render_html, rtol=TOLERANCE["rtol"], atol=TOLERANCE["atol"], keep=None):
    """Check a package: its checksums, then its analysis rerun from data/ against analysis/. Check."""
    folder = Path(folder)
    problems = verify_checksums(folder)
    try:
        provenance = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
        inputs, options = provenance["inputs"], Options(**provenance["options"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PackageError(f"{PROVENANCE}: cannot read the recorded analysis ({error}).") from error
    analysis = analyse(folder, inputs, options)
    with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
        rerun = Path(keep) if keep else Path(scratch) / ANALYSIS
        rerun.mkdir(parents=True, exist_ok=bool(keep))
        writers.write_outputs(rerun, analysis, render_html)
        differences, compared = compare_outputs(folder / ANALYSIS, rerun, rtol, atol)
    return Check(problems, differences, compared)


def close(a, b, rtol, atol):
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def number(value):
    """A JSON value or CSV cell as a float, or None when it is no number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def same(shipped, rerun, rtol, atol):
    """Whether two values agree: numbers within the tolerance (NaN with NaN, an infinity with the same infinity,
    as a ratio over a zero accuracy gives), anything else equal."""
    a, b = number(shipped), number(rerun)
    if a is not None and b is not None:
        if math.isinf(a) or math.isinf(b):
            return a == b
        return (math.isnan(a) and math.isnan(b)) or close(a, b, rtol, atol)
    return shipped == rerun


def row_label(row):
    """A row's texts, to name it: (statement=sufficiency, model=N)."""
    texts = [f"{k}={v}" for k, v in row.items() if isinstance(v, str) and v and number(v) is None][:3]
    return f" ({', '.join(texts)})" if texts else ""


# Fit diagnostics that are no result: how many likelihood evaluations an optimizer took may differ on another CPU
# (its float kernels) while every estimate agrees, so `reproduce` does not compare them.
NOT_COMPARED = {"evaluations"}


def json_differences(shipped, rerun, path, rtol, atol, found):
    """Append 'path: shipped X, rerun Y' for every differing value; returns the number of values compared."""
    if isinstance(shipped, dict) and isinstance(rerun, dict):
        count = 0
        for key in [k for k in list(shipped) + [k for k in rerun if k not in shipped] if k not in NOT_COMPARED]:
            where = f"{path}.{key}" if path else key
            if key not in rerun or key not in shipped:
                found.append(f"{where}: only in the {'shipped' if key in shipped else 'rerun'} results")
                continue
            count += json_differences(shipped[key], rerun[key], where, rtol, atol, found)
        return count
    if isinstance(shipped, list) and isinstance(rerun, list):
        if len(shipped) != len(rerun):
            found.append(f"{path}: {len(shipped)} entries shipped, {len(rerun)} rerun")
            return 1
        return sum(json_differences(a, b, f"{path}[{i}]{row_label(a) if isinstance(a, dict) else ''}", rtol,
                                    atol, found) for i, (a, b) in enumerate(zip(shipped, rerun)))
    if not same(shipped, rerun, rtol, atol):
        found.append(f"{path}: shipped {shipped!r}, rerun {rerun!r}")
    return 1


def csv_differences(shipped_path, rerun_path, name, rtol, atol, found):
    def rows(path):
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    shipped, rerun = rows(shipped_path), rows(rerun_path)
    if len(shipped) != len(rerun) or (shipped and list(shipped[0]) != list(rerun[0])):
        found.append(f"{name}: {len(shipped)} rows shipped, {len(rerun)} rerun (or other columns)")
        return 1
    count = 0
    for index, (a, b) in enumerate(zip(shipped, rerun), start=1):
        for column in (c for c in a if c not in NOT_COMPARED):
            count += 1
            if not same(a[column], b[column], rtol, atol):
                found.append(f"{name} row {index}{row_label(a)} column {column}: shipped {a[column]!r}, "
                             f"rerun {b[column]!r}")
    return count


def compare_outputs(shipped, rerun, rtol, atol):
    """(differences, values compared) between two analysis folders: results.json and every tables/*.csv."""
    found = []
    count = json_differences(json.loads((shipped / "results.json").read_text(encoding="utf-8")),
                             json.loads((rerun / "results.json").read_text(encoding="utf-8")),
                             "results.json", rtol, atol, found)
    names = sorted({p.name for p in (shipped / "tables").glob("*.csv")} | {p.name for p in
                                                                           (rerun / "tables").glob("*.csv")})
    for name in names:
        a, b = shipped / "tables" / name, rerun / "tables" / name
        if not a.is_file() or not b.is_file():
            found.append(f"tables/{name}: only in the {'shipped' if a.is_file() else 'rerun'} analysis")
            continue
        count += csv_differences(a, b, f"tables/{name}", rtol, atol, found)
    return found, count
