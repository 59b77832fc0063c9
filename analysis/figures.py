"""The report's figures as PNG bytes (matplotlib's Agg canvas, no pyplot state, no display)."""

import io
import json
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import NullFormatter

from analysis.loading import FLOW_MAIN, FLOW_SPLIT, LIKERT_LEVELS, STATEMENTS
from analysis.tasks import UNIT, arm_label, unit_label

LIKERT_LABELS = ("Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree")
LIKERT_COLOURS = ("#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac")


def png_bytes(figure, description=None):
    """The figure as PNG; `description` (text) goes into the file's Description chunk."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None, "Description": description})
    return buffer.getvalue()


def mean_ci_figure(mean_ci, models):
    """Mean rating per model with its 95% CI over participant means, one panel per statement."""
    figure = Figure(figsize=(3.2 * len(STATEMENTS), 3.2), layout="constrained")
    axes = figure.subplots(1, len(STATEMENTS), sharey=True)
    x = np.arange(len(models))
    for ax, statement in zip(np.atleast_1d(axes), STATEMENTS):
        rows = mean_ci[mean_ci["statement"] == statement].set_index("model").loc[models]
        errors = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
        ax.bar(x, rows["mean"], color="#9ecae1", edgecolor="#3182bd")
        ax.errorbar(x, rows["mean"], yerr=errors, fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(x, models)
        ax.set_ylim(LIKERT_LEVELS[0], LIKERT_LEVELS[-1])
        ax.set_title(statement.capitalize())
        ax.set_xlabel("Model")
    np.atleast_1d(axes)[0].set_ylabel("Mean rating (95% CI)")
    return png_bytes(figure)


def likert_figure(descriptives, models):
    """Diverging stacked bars of the answers per model, centred on the middle of 'Neutral'."""
    figure = Figure(figsize=(4.2 * len(STATEMENTS), 0.5 * len(models) + 2.0), layout="constrained")
    axes = figure.subplots(1, len(STATEMENTS), sharey=True)
    count_columns = [f"n_{v}" for v in LIKERT_LEVELS]
    y = np.arange(len(models))[::-1]
    for ax, statement in zip(np.atleast_1d(axes), STATEMENTS):
        rows = descriptives[descriptives["statement"] == statement].set_index("model").loc[models]
        shares = rows[count_columns].to_numpy(np.float64)
        shares = 100 * shares / shares.sum(axis=1, keepdims=True)
        left = -(shares[:, 0] + shares[:, 1] + shares[:, 2] / 2)
        for j, (label, colour) in enumerate(zip(LIKERT_LABELS, LIKERT_COLOURS)):
            ax.barh(y, shares[:, j], left=left, color=colour, label=label, edgecolor="white", height=0.7)
            left = left + shares[:, j]
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, models)
        ax.set_xlim(-100, 100)
        ax.set_xlabel("% of answers")
        ax.set_title(statement.capitalize())
    figure.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside lower center", ncol=5,
                  fontsize=7, frameon=False)
    return png_bytes(figure)


def choice_figure(shares, models):
    """Share of all choices per model, overall and per dataset (of its set's choices, with several sets)."""
    datasets = list(dict.fromkeys(shares["dataset"]))
    figure = Figure(figsize=(1.2 + 0.9 * len(models) * max(1, len(datasets)) / 2, 3.2), layout="constrained")
    ax = figure.subplots()
    width = 0.8 / len(datasets)
    x = np.arange(len(models))
    for i, dataset in enumerate(datasets):
        rows = shares[shares["dataset"] == dataset].set_index("model").reindex(models)
        ax.bar(x + (i - (len(datasets) - 1) / 2) * width, 100 * rows["share"], width, label=dataset)
    ax.set_xticks(x, models)
    ax.set_xlabel("Chosen model")
    ax.set_ylabel("% of choices" + (" within the model's set" if shares["set"].nunique() > 1 else ""))
    ax.legend(title="Dataset", fontsize=8)
    return png_bytes(figure)


TASK_ACCURACY_FIGURE = "task_accuracy"


def task_accuracy_figure(accuracy):
    """Accuracy per condition with its participant-bootstrap 95% CI, one panel per block, question and phase, the
    accuracy of guessing drawn as a dashed line. The bars and chance lines drawn are written into the PNG's
    Description as JSON."""
    units = list(accuracy.groupby(UNIT, sort=False))
    columns = min(3, len(units))
    rows = -(-len(units) // columns)
    widest = max(len(group) for _, group in units)
    figure = Figure(figsize=(max(3.0, 0.9 * widest + 1.2) * columns, 3.1 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    drawn = []
    for ax, (key, group) in zip(axes, units):
        x = np.arange(len(group))
        means = group["participant_mean"].to_numpy()
        errors = np.vstack([means - group["bootstrap_low"].to_numpy(), group["bootstrap_high"].to_numpy() - means])
        ax.bar(x, means, color="#9ecae1", edgecolor="#3182bd")
        ax.errorbar(x, means, yerr=np.nan_to_num(errors), fmt="none", ecolor="black", capsize=4)
        chance = float(group["chance"].mean())
        ax.axhline(chance, color="#b2182b", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
        labels = [arm_label(m, c) for m, c in zip(group["model"], group["condition"])]
        ax.set_xticks(x, labels, rotation=30 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
        ax.set_ylim(0, 1)
        ax.set_title("\n".join(textwrap.wrap(unit_label(*key), 30)), fontsize=8.5)
        ax.legend(fontsize=7, loc="upper left")
        drawn.append({"unit": unit_label(*key), "chance": chance,
                      "bars": [[label, float(m)] for label, m in zip(labels, means)]})
    for ax in axes[len(units):]:
        ax.set_axis_off()
    for ax in axes[::columns]:
        ax.set_ylabel("Accuracy (participant mean, 95% CI)")
    return png_bytes(figure, json.dumps(drawn, ensure_ascii=False))


def power_figure(power, titles, target):
    """Power against the number of participants, one panel per test, one line per comparison."""
    tests = list(dict.fromkeys(power["test"]))
    columns = min(3, len(tests))
    rows = -(-len(tests) // columns)
    figure = Figure(figsize=(3.4 * columns, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax, test in zip(axes, tests):
        for comparison, group in power[power["test"] == test].groupby("comparison", sort=False):
            ax.plot(group["participants"], group["power"], marker="o", label=comparison)
        ax.axhline(target, color="black", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_title(titles[test], fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(tests):]:
        ax.set_axis_off()
    for ax in axes[len(tests) - columns:len(tests)]:  # the lowest panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("Participants")
    for ax in axes[::columns]:
        ax.set_ylabel("Power")
    return png_bytes(figure)


def metric_rating_figure(stimulus_table, models, metrics, labels, log_scale=("ris", "ros")):
    """Each stimulus's mean rating against each of its explanation metrics, one colour per model."""
    figure = Figure(figsize=(2.6 * len(metrics), 2.4 * len(STATEMENTS)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(STATEMENTS), len(metrics), sharey=True, squeeze=False))
    colours = {model: f"C{i}" for i, model in enumerate(models)}
    for row, statement in enumerate(STATEMENTS):
        for column, metric in enumerate(metrics):
            ax = axes[row, column]
            for model in models:
                group = stimulus_table[(stimulus_table["model"] == model) & stimulus_table[metric].notna()]
                ax.scatter(group[metric], group[f"mean_{statement}"], s=12, alpha=0.7, color=colours[model],
                           label=model)
            if metric in log_scale and (stimulus_table[metric] > 0).any():
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a range under a decade
            ax.set_ylim(LIKERT_LEVELS[0] - 0.2, LIKERT_LEVELS[-1] + 0.2)
            if row == len(STATEMENTS) - 1:
                ax.set_xlabel(labels[metric])
            if column == 0:
                ax.set_ylabel(f"Mean {statement} rating")
    figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=len(models),
                  fontsize=8, frameon=False, title="Model")
    return png_bytes(figure)


def cell_means_figure(cells, levels):
    """Two factors: mean rating per model x method cell with its 95% CI over participant means, one line per
    model across the methods, one panel per statement."""
    figure = Figure(figsize=(3.6 * len(STATEMENTS), 3.4), layout="constrained")
    axes = figure.subplots(1, len(STATEMENTS), sharey=True)
    x = np.arange(len(levels["method"]))
    width = 0.8 / max(len(levels["model"]), 1)
    for ax, statement in zip(np.atleast_1d(axes), STATEMENTS):
        table = cells[cells["statement"] == statement]
        for i, model in enumerate(levels["model"]):
            rows = table[table["model"] == model].set_index("method").reindex(levels["method"])
            errors = np.vstack([rows["participant_mean"] - rows["ci_low"], rows["ci_high"] - rows["participant_mean"]])
            offset = (i - (len(levels["model"]) - 1) / 2) * width
            ax.errorbar(x + offset, rows["participant_mean"], yerr=errors, fmt="o-", capsize=3, label=model)
        ax.set_xticks(x, levels["method"])
        ax.set_ylim(LIKERT_LEVELS[0], LIKERT_LEVELS[-1])
        ax.set_title(statement.capitalize())
        ax.set_xlabel("Method")
    np.atleast_1d(axes)[0].set_ylabel("Mean rating (95% CI)")
    np.atleast_1d(axes)[-1].legend(title="Model", fontsize="small")
    return png_bytes(figure)


FLOW_FIGURE = "participant_flow"  # the report shows it with the flow table, not among the results' figures
FLOW_FIGURE_TITLE = "Participant flow (CONSORT-style), drawn from the flow table's numbers"

# The flow diagram's layout, in data units: rows 1 apart, the main line on the left, leavers on the right.
FLOW_BOX_HEIGHT = 0.64
FLOW_MAIN_X, FLOW_MAIN_WIDTH = 3.0, 3.6
FLOW_SPLIT_XS, FLOW_SPLIT_WIDTH = (1.55, 4.45), 2.7
FLOW_SIDE_X, FLOW_SIDE_WIDTH = 7.8, 4.1
FLOW_WRAP = {FLOW_MAIN_WIDTH: 30, FLOW_SPLIT_WIDTH: 24, FLOW_SIDE_WIDTH: 44}  # characters per line, by box width


def flow_rows(flow):
    """The flow's (step, participants) pairs as the diagram's rows, in order: [(kind, [(step, n), ...])], kind
    'main' (one box on the main line), 'split' (those with answers kept: completed and not, side by side) or
    'leave' (participants leaving the line, to the right). Every pair appears once, as given."""
    rows = []
    for label, count in flow:
        kind = "main" if label in FLOW_MAIN else "split" if label in FLOW_SPLIT else "leave"
        if kind == "split" and rows and rows[-1][0] == "split":
            rows[-1][1].append((label, count))
        else:
            rows.append((kind, [(label, count)]))
    return rows


def flow_box(ax, x, y, width, label, count, colour):
    text = textwrap.shorten(label, 2 * FLOW_WRAP[width], placeholder="...")  # the table has the whole reason
    ax.add_patch(FancyBboxPatch((x - width / 2, y - FLOW_BOX_HEIGHT / 2), width, FLOW_BOX_HEIGHT,
                                boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=colour, edgecolor="#555555"))
    ax.text(x, y, "\n".join(textwrap.wrap(text, FLOW_WRAP[width])) + f"\nn = {count}", ha="center", va="center",
            fontsize=7.5)


def flow_arrow(ax, start, end):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 0.9,
                                                      "shrinkA": 0, "shrinkB": 0})


def flow_figure(flow):
    """The participant flow, CONSORT-style, drawn from the flow table's own (step, participants) pairs: arrived,
    consented, those with answers kept (completed or not, side by side) and analysed down the main line; those
    leaving it (withdrew, excluded by reason, no rating analysed) to its right. The pairs drawn are written into
    the PNG's Description as JSON, so the file can be checked against tables/participant_flow.csv."""
    rows = flow_rows(flow)
    figure = Figure(figsize=(7.5, 0.72 * len(rows) + 0.3), layout="constrained")
    ax = figure.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.set_axis_off()
    half, step = FLOW_BOX_HEIGHT / 2, (1 - FLOW_BOX_HEIGHT) / 2
    above = None  # the last main-line row: (its box centres, its y)
    for i, (kind, boxes) in enumerate(rows):
        y = -i
        if kind == "leave":
            flow_box(ax, FLOW_SIDE_X, y, FLOW_SIDE_WIDTH, *boxes[0], "#fbe3d6")
            flow_arrow(ax, (FLOW_MAIN_X, y), (FLOW_SIDE_X - FLOW_SIDE_WIDTH / 2, y))
            continue
        xs, width = ((FLOW_MAIN_X,), FLOW_MAIN_WIDTH) if kind == "main" else (FLOW_SPLIT_XS, FLOW_SPLIT_WIDTH)
        for x, (label, count) in zip(xs, boxes):
            flow_box(ax, x, y, width, label, count, "#deebf7")
        if above is not None:
            top = above[1] - half - (step if len(above[0]) > 1 else 0)  # below a split: where its lines join
            for x in above[0] if len(above[0]) > 1 else ():
                ax.plot([x, x, FLOW_MAIN_X], [above[1] - half, top, top], color="#333333", lw=0.9)
            if len(xs) > 1:  # a split: the line forks just above it
                fork = y + half + step
                ax.plot([FLOW_MAIN_X, FLOW_MAIN_X], [top, fork], color="#333333", lw=0.9)
                ax.plot([xs[0], xs[-1]], [fork, fork], color="#333333", lw=0.9)
                for x in xs:
                    flow_arrow(ax, (x, fork), (x, y + half))
            else:
                flow_arrow(ax, (FLOW_MAIN_X, top), (FLOW_MAIN_X, y + half))
        above = (xs[:len(boxes)], y)
    return png_bytes(figure, json.dumps([[label, count] for label, count in flow], ensure_ascii=False))
