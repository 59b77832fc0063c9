"""manage.py evaluate_explanations: the study's Table 1 (Gini, RIS, ROS, ROAD, SSIM of VG/IG/SG maps) on our models."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from saliency.management.options import add_model_options, device_from_options
from saliency.models import Method

TABLE1_METHODS = ["VG", "IG", "SG"]  # the study's Table 1; GradCAM on request


class Command(BaseCommand):
    help = (
        "Score the VG, IG and SmoothGrad maps of the trained models on seeded test images that every model "
        "classifies correctly (Gini sparsity, RIS, ROS, ROAD AOPC, SSIM to a noisy copy's map) and write "
        "per_image.csv, metrics.json, table1.csv and table1.md (each model against N, beside the study's Table 1)."
    )

    def add_arguments(self, parser):
        add_model_options(parser)  # --models: N, the reference of Table 1, must be one of them
        parser.add_argument("--methods", nargs="+", default=TABLE1_METHODS, choices=Method.values)
        parser.add_argument("--images", type=int, default=1000, help="Test images per dataset (default 1000).")
        parser.add_argument("--samples", type=int, default=200,
                            help="Perturbations per image for RIS and ROS (default 200, as quantus and the study).")
        parser.add_argument("--out", type=Path, required=True, help="Folder for the four output files.")

    def handle(self, *args, **options):
        import pandas as pd
        import torch

        from saliency.data import DataError, load_split
        from saliency.evaluation import evaluate, write_outputs
        from saliency.stimuli import Explainer, SelectionError
        from saliency.training import CheckpointError, checkpoint_paths, load_checkpoint

        variants = list(dict.fromkeys(options["models"]))
        methods = list(dict.fromkeys(options["methods"]))
        datasets = list(dict.fromkeys(options["datasets"]))
        if "N" not in variants:
            raise CommandError("--models must include N: Table 1 sets every model against the natural model N.")
        if options["images"] < 1 or options["samples"] < 1:
            raise CommandError("--images and --samples must be at least 1.")
        out = options["out"]
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} is a file; give a folder.")
        device = device_from_options(options)
        missing = [str(path) for dataset in datasets for variant in variants
                   for path in checkpoint_paths(options["checkpoints"], dataset, variant, options["preset"])
                   if not path.exists()]
        if missing:
            raise CommandError(f"Missing checkpoint file(s): {', '.join(missing)}. Train the models first with "
                               f"manage.py generate_stimuli --models {' '.join(variants)} --preset {options['preset']} "
                               f"--checkpoints {options['checkpoints']}.")
        started = time.perf_counter()
        try:
            frames = []
            for dataset in datasets:
                test_data = load_split(dataset, False, options["data_root"])
                explainers = []
                for variant in variants:
                    model, _ = load_checkpoint(options["checkpoints"], dataset, variant, options["preset"], device)
                    weights, _ = checkpoint_paths(options["checkpoints"], dataset, variant, options["preset"])
                    explainers.append(Explainer(variant, model, options["preset"], weights.name))
                frames.append(evaluate(dataset, test_data, explainers, methods, options["images"], options["seed"],
                                       device, options["samples"]))
        except (DataError, SelectionError, CheckpointError) as error:
            raise CommandError(str(error)) from error
        seconds = time.perf_counter() - started
        run = {"datasets": datasets, "models": variants, "methods": methods, "images": options["images"],
               "samples": options["samples"], "preset": options["preset"], "seed": options["seed"],
               "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "seconds": round(seconds, 1)}
        write_outputs(out, pd.concat(frames, ignore_index=True), run)
        self.stdout.write((out / "table1.md").read_text())
        self.stdout.write(self.style.SUCCESS(
            f"Scored {options['images']} images x {len(variants)} models x {len(methods)} methods in {seconds:.0f} s "
            f"on {device}; wrote per_image.csv, metrics.json, table1.csv, table1.md to {out}"))
