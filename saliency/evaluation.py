"""The study's Table 1 on our models: explanation metrics of VG / IG / SG maps, per image and against N.

`evaluate` runs the metrics of saliency.metrics on seeded test images that every model classifies
correctly; `table1` sets each model's mean against N's beside the study's figures; `write_outputs`
writes per_image.csv, metrics.json, table1.csv and table1.md all at once.
"""

import json
import math

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from saliency import metrics
from saliency.attribution import IG_RULE, IG_STEPS, METHODS, SG_SAMPLES, SG_STDEV, predict
from saliency.data import batches
from saliency.files import json_ready, publish_folder
from saliency.names import METRIC_NAMES
from saliency.stimuli import choose_images

PER_IMAGE_COLUMNS = ["dataset", "test_index", "model", "method", *METRIC_NAMES]
# Table 1 rows: the study's name, our metric, and whether it is compared on a log scale (see table1).
TABLE1_ROWS = (("dG", "gini", False), ("dRIS", "ris", True), ("dROS", "ros", True), ("dROAD", "road_aopc", False))
# The study's Table 1, FMNIST column: model minus N.
STUDY_TABLE1 = {
    ("VG", "dG"): {"A": 0.198, "M1": 0.198, "M2": 0.171, "G": 0.183},
    ("VG", "dRIS"): {"A": 2.193, "M1": 1.396, "M2": -1.025, "G": 1.168},
    ("VG", "dROS"): {"A": 2.084, "M1": 1.121, "M2": -1.222, "G": 0.739},
    ("VG", "dROAD"): {"A": -0.005, "M1": -0.045, "M2": -0.050, "G": 0.006},
    ("IG", "dG"): {"A": 0.067, "M1": 0.075, "M2": 0.047, "G": 0.050},
    ("IG", "dRIS"): {"A": 2.016, "M1": 2.679, "M2": -0.843, "G": 4.564},
    ("IG", "dROS"): {"A": 1.931, "M1": 2.917, "M2": -0.698, "G": 4.681},
    ("IG", "dROAD"): {"A": -0.010, "M1": -0.070, "M2": -0.029, "G": -0.035},
    ("SG", "dG"): {"A": 0.198, "M1": 0.198, "M2": 0.171, "G": 0.183},
    ("SG", "dRIS"): {"A": 0.945, "M1": 0.799, "M2": -0.466, "G": 0.994},
    ("SG", "dROS"): {"A": 5.593, "M1": 3.418, "M2": -0.194, "G": 2.034},
    ("SG", "dROAD"): {"A": 0.006, "M1": 0.000, "M2": -0.018, "G": -0.009},
}
BETTER = {"dG": "higher", "dRIS": "lower", "dROS": "lower", "dROAD": "higher"}


def settings(samples=metrics.STABILITY_SAMPLES):
    """What metrics.json records about how the maps and metrics were made."""
    return {
        "methods": {"VG": "captum Saliency, |gradient|, max over channels",
                    "IG": f"captum IntegratedGradients, zero baseline, {IG_STEPS} steps, {IG_RULE}, sum over channels",
                    "SG": f"captum NoiseTunnel(Saliency) smoothgrad, {SG_SAMPLES} samples, stdev {SG_STDEV}, "
                          "|gradient|, max over channels",
                    "GradCAM": "captum LayerGradCam of the stage before the classifier head, ReLU, bilinear "
                               "upsampling to the image size"},
        "gini": "quantus Sparseness: |map| / max|map| per map, + 1e-7",
        "ris_ros": f"quantus RelativeInputStability / RelativeOutputStability: {samples} perturbations "
                   f"x + U[{metrics.STABILITY_NOISE[0]}, {metrics.STABILITY_NOISE[1]}), eps_min {metrics.EPS_MIN}, "
                   "max over perturbations, NaN when a perturbation changes the prediction; shared perturbations",
        "road_aopc": f"quantus ROAD noisy linear imputation (noise {metrics.ROAD_NOISE}), most relevant first, "
                     f"{len(metrics.ROAD_PERCENTAGES)} steps of 1-99 %; AOPC of the predicted-class probability, "
                     "1/(L+1) sum_k (f(x_0) - f(x_k))",
        "ssim": f"skimage SSIM (window {metrics.SSIM_WINDOW}, data_range max-min, as quantus.ssim) between the map "
                f"and the map of x + N(0, {metrics.SSIM_NOISE}^2) with the same prediction (first of "
                f"{metrics.SSIM_TRIES} draws)",
    }


def evaluate(dataset, test_data, explainers, method_names, n_images, seed, device="cpu", samples=None):
    """One row per image, model and method (PER_IMAGE_COLUMNS), on `n_images` seeded test images that every
    model classifies correctly (spread over the classes as generate_stimuli spreads them).

    Every model and method gets the same noise (the same seed), so that their differences are paired.
    Raises stimuli.SelectionError when too few images are classified correctly by every model.
    """
    samples = metrics.STABILITY_SAMPLES if samples is None else samples
    indices = choose_images(test_data, explainers, n_images, seed, device, option="--images")
    images, _ = next(batches(test_data, len(indices), indices=torch.tensor(indices)))
    images = images.to(device)
    frames = []
    for explainer in explainers:
        # The true class (every model classifies the images correctly), predicted a chunk at a time to bound memory.
        target = torch.cat([predict(explainer.model, images[chunk])[0] for chunk in metrics.image_chunks(images)])
        for name in tqdm(method_names, desc=f"{dataset} {explainer.variant}"):
            _, scores = metrics.explain_and_evaluate(explainer.model, METHODS[name], images, target, seed, samples)
            frames.append(pd.DataFrame({
                "dataset": dataset, "test_index": indices, "model": explainer.variant, "method": name,
                **{metric: scores[metric].cpu().numpy() for metric in METRIC_NAMES},
            }))
    return pd.concat(frames, ignore_index=True)[PER_IMAGE_COLUMNS]


def _mean(column, log):
    """(mean of the finite values, or of their natural logs; how many there were)."""
    values = column.to_numpy(np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, 0
    return float((np.log(values) if log else values).mean()), len(values)


def table1(per_image):
    """Each model against N per dataset and method, in the study's Table 1 layout, plus the mean SSIM per model.

    dG and dROAD: mean of the model minus mean of N. dRIS and dROS: mean of ln(value) of the model minus that of N
    (a log ratio), because the raw values span orders of magnitude (RIS ~1e-4, ROS ~1e3 on FMNIST) while the
    study's differences are of order 1, as on the log scale on which Agarwal et al. (2022) report them.
    Means skip NaN (a perturbation changed the prediction); n_values counts the values used.
    """
    rows = []
    for (dataset, method), group in per_image.groupby(["dataset", "method"], sort=False):
        models = list(dict.fromkeys(group["model"]))
        by_model = {model: group[group["model"] == model] for model in models}
        if "N" in by_model:
            for row_name, metric, log in TABLE1_ROWS:
                reference, _ = _mean(by_model["N"][metric], log)
                for model in [m for m in models if m != "N"]:
                    value, n = _mean(by_model[model][metric], log)
                    study = STUDY_TABLE1.get((method, row_name), {}).get(model) if dataset == "fmnist" else None
                    rows.append({"dataset": dataset, "method": method, "metric": row_name, "model": model,
                                 "value": value - reference, "study": study, "better": BETTER[row_name],
                                 "n_values": n})
        for model in models:
            value, n = _mean(by_model[model]["ssim"], log=False)
            rows.append({"dataset": dataset, "method": method, "metric": "SSIM", "model": model, "value": value,
                         "study": None, "better": "higher", "n_values": n})
    return pd.DataFrame(rows, columns=["dataset", "method", "metric", "model", "value", "study", "better", "n_values"])


def _cell(value, decimals=3):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{decimals}f}"


def table1_markdown(table, per_image):
    """The table as Markdown: one row per dataset, method and metric, ours beside the study's per model."""
    lines = []
    for dataset, group in table.groupby("dataset", sort=False):
        models = [m for m in dict.fromkeys(per_image.loc[per_image["dataset"] == dataset, "model"]) if m != "N"]
        images = per_image.loc[per_image["dataset"] == dataset, "test_index"].nunique()
        lines += [f"### {dataset}: each model minus N ({images} images)", "",
                  "| method | metric | better | " + " | ".join(f"{m} | {m} study" for m in models) + " |",
                  "|---|---|---|" + "---|---|" * len(models)]
        for (method, metric), rows in group[group["metric"] != "SSIM"].groupby(["method", "metric"], sort=False):
            cells = rows.set_index("model")
            lines.append(f"| {method} | {metric} | {rows['better'].iloc[0]} | " + " | ".join(
                f"{_cell(cells.at[m, 'value'])} | {_cell(cells.at[m, 'study'])}" for m in models) + " |")
        all_models = list(dict.fromkeys(per_image.loc[per_image["dataset"] == dataset, "model"]))
        lines += ["", "Mean SSIM between the map and the map of a noisy copy (higher: more stable):", "",
                  "| method | " + " | ".join(all_models) + " |", "|---|" + "---|" * len(all_models)]
        for method, rows in group[group["metric"] == "SSIM"].groupby("method", sort=False):
            cells = rows.set_index("model")
            lines.append(f"| {method} | " + " | ".join(_cell(cells.at[m, "value"]) for m in all_models) + " |")
        scored = per_image[per_image["dataset"] == dataset].groupby(["method", "model"], sort=False)["ris"].count()
        lines += ["", "Images with a RIS/ROS value (no perturbation changed the predicted class):", "",
                  "| method | " + " | ".join(all_models) + " |", "|---|" + "---|" * len(all_models)]
        for method in dict.fromkeys(per_image.loc[per_image["dataset"] == dataset, "method"]):
            lines.append(f"| {method} | " + " | ".join(f"{scored[method, m]} of {images}" for m in all_models) + " |")
        lines.append("")
    lines.append("dG, dROAD: difference of the means. dRIS, dROS: difference of the mean natural logs (a log ratio). "
                 "Images whose RIS/ROS is NaN (a perturbation changed the prediction) are left out of those means.")
    return "\n".join(lines) + "\n"


def write_outputs(out, per_image, run):
    """per_image.csv, metrics.json, table1.csv, table1.md into `out`, built in a temporary folder and moved in."""
    table = table1(per_image)
    summary = (per_image.groupby(["dataset", "method", "model"], sort=False)[list(METRIC_NAMES)]
               .agg(lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan).reset_index())
    document = {**run, "settings": settings(run.get("samples", metrics.STABILITY_SAMPLES)),
                "means": summary.to_dict("records"), "table1": table.to_dict("records"),
                "nan_counts": per_image.groupby(["dataset", "method", "model"], sort=False)[list(METRIC_NAMES)]
                .agg(lambda v: int(v.isna().sum())).reset_index().to_dict("records")}

    def write(folder):
        per_image.to_csv(folder / "per_image.csv", index=False, float_format="%.9g")
        table.to_csv(folder / "table1.csv", index=False, float_format="%.6g")
        (folder / "table1.md").write_text(table1_markdown(table, per_image))
        (folder / "metrics.json").write_text(json.dumps(json_ready(document), indent=2, allow_nan=False) + "\n")

    publish_folder(out, write, ".evaluate-")
    return table
