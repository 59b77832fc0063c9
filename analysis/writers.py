"""The report's files: report.md, results.json, tables/*.csv, figures/*.png and report.html, all or nothing.

The HTML page is rendered by a function the caller passes in (the management command renders
templates/analysis/report.html, where Django autoescapes all text); this module stays free of Django.
"""

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats
from analysis.display import JUSTIFICATIONS_SHOWN, figure_titles, html_context
from saliency.files import json_ready, publish_folder
from studyapp.schema import guard_formulas

# Tables with one row per participant or per answer: CSV only, not repeated in results.json.
PER_ROW_TABLES = ("participant_means", "most_chosen", "justifications", "stimulus_metrics",
                  "task_participant_accuracy", "task_verification_participants", "task_stimuli")


def markdown_cell(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|") \
        .replace("\r", " ").replace("\n", " ")


def markdown_table(table):
    lines = [f"### {table.title}", "", table.caption, ""]
    lines.append("| " + " | ".join(map(markdown_cell, table.header)) + " |")
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in table.rows]
    return lines + ["", f"Data: tables/{table.csv.replace(', ', ', tables/')}", ""]


def markdown_report(analysis, context):
    lines = [f"# {markdown_cell(context['title'])}", ""]
    lines += [f"- {markdown_cell(line)}" for line in context["provenance_lines"]]
    lines += ["", "## Sample", ""] if context["provenance_lines"] else ["## Sample", ""]
    if context.get("flow_table"):
        lines += markdown_table(context["flow_table"])
    if context.get("flow_figure"):
        lines += [f"![{context['flow_figure']['title']}]({context['flow_figure']['file']})", ""]
    lines += [f"- {markdown_cell(line)}" for line in context["sample_lines"]]
    if context["method_lines"]:
        lines += ["", "## Methods", ""] + [f"- {markdown_cell(line)}" for line in context["method_lines"]]
    if context["tables"]:
        lines += ["", "## Results", ""]
    else:
        lines.append("")
    for table in context["tables"]:
        lines += markdown_table(table)
    if context["factor_tables"]:
        lines += ["## Model and method: two factors", ""]
        for table in context["factor_tables"]:
            lines += markdown_table(table)
    if context["metric_tables"]:
        lines += ["## Explanation metrics and ratings", ""]
        for table in context["metric_tables"]:
            lines += markdown_table(table)
    lines += markdown_tasks(context)
    lines += ["## Figures", ""] + [f"![{title}](figures/{name}.png)" for name, title in figure_titles(analysis)]
    if context["justifications"]:
        lines += ["", "## Justifications", "",
                  f"The first {JUSTIFICATIONS_SHOWN} per chosen model; all of them: tables/justifications.csv.", ""]
        for model, group in context["justifications"].items():
            lines += [f"### {model} ({group['total']} choices)", ""]
            lines += [f"- {markdown_cell(r['justification'])} ({markdown_cell(r['participant'])}, "
                      f"{markdown_cell(r['image'])})" for r in group["rows"]]
            lines.append("")
    return "\n".join(lines) + "\n"


def markdown_tasks(context):
    """The section "Tasks with a right answer" (report.md), empty without task answers."""
    if not context["task_tables"]:
        return []
    lines = ["## Tasks with a right answer", ""] + [f"- {markdown_cell(line)}" for line in context["task_lines"]]
    lines.append("")
    for table in context["task_tables"]:
        lines += markdown_table(table)
    return lines


def results_json(analysis):
    results = {"provenance": asdict(analysis.provenance) if analysis.provenance else None,
               "sample": asdict(analysis.sample), "options": asdict(analysis.options),
               "models": analysis.models, "choice_models": analysis.choice_models,
               "rounding_decimals_of_participant_means": stats.MEAN_DECIMALS}
    for name, table in analysis.tables.items():
        results[name] = (f"tables/{name}.csv" if name in PER_ROW_TABLES
                         else table.to_dict("records"))
    return json.dumps(json_ready(results), indent=2, allow_nan=False)


def csv_column(values):
    """A column as CSV cells: '' for missing, text guarded against spreadsheet formulas."""
    if pd.api.types.is_float_dtype(values):
        return [v if v == v else "" for v in values.tolist()]
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.tolist()
    if isinstance(values.dtype, pd.CategoricalDtype):
        cells = np.array(guard_formulas([str(c) for c in values.cat.categories]) + [""], dtype=object)
        return cells[values.cat.codes.to_numpy()].tolist()  # code -1 (missing) picks the last cell, ""
    cells = values.astype(object).where(values.notna(), "").astype(str).tolist()
    return guard_formulas(cells)


def write_csv(table, path):
    """csv.writer rather than DataFrame.to_csv: twice as fast on the 2-million-row justifications."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows(zip(*(csv_column(table[c]) for c in table.columns)))


def write_outputs(directory, analysis, render_html):
    """Every output file; `render_html(context)` turns html_context() into the page."""
    directory = Path(directory)
    context = html_context(analysis)
    (directory / "tables").mkdir()
    (directory / "figures").mkdir()
    for name, table in analysis.tables.items():
        write_csv(table, directory / "tables" / f"{name}.csv")
    for name, png in analysis.figures.items():
        (directory / "figures" / f"{name}.png").write_bytes(png)
    (directory / "results.json").write_text(results_json(analysis), encoding="utf-8")
    (directory / "report.md").write_text(markdown_report(analysis, context), encoding="utf-8")
    (directory / "report.html").write_text(render_html(context), encoding="utf-8")


def publish(out, analysis, render_html):
    """Write the report into a temporary folder beside `out`, then move it into place: all or nothing."""
    return publish_folder(out, lambda folder: write_outputs(folder, analysis, render_html), ".analyze-")
