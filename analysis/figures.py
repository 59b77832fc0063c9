"""The report's figures as PNG bytes (matplotlib's Agg canvas, no pyplot state, no display)."""

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.loading import LIKERT_LEVELS, STATEMENTS

LIKERT_LABELS = ("Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree")
LIKERT_COLOURS = ("#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac")


def png_bytes(figure):
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
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
    """Share of all choices per model, overall and per dataset."""
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
    ax.set_ylabel("% of choices")
    ax.legend(title="Dataset", fontsize=8)
    return png_bytes(figure)


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
