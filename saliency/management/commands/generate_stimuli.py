"""manage.py generate_stimuli: train (or reuse) the models and write the study's stimuli into fixtures/."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from saliency.management.options import add_model_options, add_rendering_options, device_from_options
from saliency.models import Method


class Command(BaseCommand):
    help = (
        "Train the chosen models where their checkpoint is missing (reusing those present), pick seeded test images "
        "every model classifies correctly (or, with --error-share, images each model gets wrong for that share), and "
        "write each model's saliency-map PNGs by each method (VG by default) of its prediction (or, with --targets "
        "top-k K, of each of its K most probable classes) plus the stimuli.json fixture (with each map's explanation "
        "metrics)."
    )

    def add_arguments(self, parser):
        add_model_options(parser)
        parser.add_argument("--images-per-dataset", type=int, default=10)
        parser.add_argument("--methods", nargs="+", default=["VG"], choices=Method.values,
                            help="Explanation methods: one map per image, model and method (default: VG).")
        parser.add_argument("--targets", nargs="+", default=["predicted"], metavar="predicted | top-k K",
                            help="predicted (default): each model's map of the class it predicts; top-k K (K from 2 "
                                 "to 10): its maps of each of its K most probable classes, each stimulus recording "
                                 "its target class, rank and probability and the model's top-K classes (the maps "
                                 "and options of distinction, simulation and verification pages).")
        parser.add_argument("--error-share", type=float, default=None, metavar="S",
                            help="Choose images on which each model is wrong for about this share (0 to 1), the "
                                 "classes spread as evenly as the errors allow, and print each model's real share; "
                                 "without it, every model is right on every image.")
        add_rendering_options(parser)
        parser.add_argument("--out", type=Path, default=Path(settings.BASE_DIR) / "fixtures")
        parser.add_argument("--smoothing-position", type=int, default=1,
                            help="Stage after which M1/M2/G put the smoothing block (1 = after the first block).")
        parser.add_argument("--max-batches", type=int, default=None,
                            help="Cap each training epoch and evaluation at this many batches (smoke tests only).")

    def handle(self, *args, **options):
        from saliency.data import DataError, load_split
        from saliency.stimuli import Explainer, SelectionError, error_shares, top_k_of, write_stimuli
        from saliency.training import (
            CheckpointError, checkpoint_paths, get_preset, load_checkpoint, train_and_save, write_accuracy_table,
        )

        if options["images_per_dataset"] < 1:
            raise CommandError("--images-per-dataset must be at least 1.")
        try:
            top_k = top_k_of(options["targets"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        error_share = options["error_share"]
        if error_share is not None and not 0 <= error_share <= 1:
            raise CommandError(f"--error-share is a share from 0 to 1, not {error_share}.")
        device = device_from_options(options)
        variants = list(dict.fromkeys(options["models"]))
        datasets = list(dict.fromkeys(options["datasets"]))
        checkpoints, data_root = options["checkpoints"], options["data_root"]
        try:
            # Read every dataset before training or writing anything, so bad data stops the command early.
            loaded = {}
            for dataset in datasets:
                missing = [v for v in variants
                           if not all(p.exists() for p in checkpoint_paths(checkpoints, dataset, v, options["preset"]))]
                loaded[dataset] = (load_split(dataset, False, data_root), load_split(dataset, True, data_root) if missing else None)
            per_dataset = []
            for dataset in datasets:
                test_data, train_data = loaded[dataset]
                preset = get_preset(options["preset"], dataset)
                explainers = []
                for variant in variants:
                    found = load_checkpoint(checkpoints, dataset, variant, preset.name, device)
                    if found is None:
                        self.stdout.write(f"Training {dataset} {variant} ({preset.name} preset) ...")
                        model, metadata = train_and_save(
                            dataset, variant, preset, train_data, test_data, checkpoints, options["seed"],
                            options["smoothing_position"], options["max_batches"], device,
                        )
                        self.stdout.write(f"  accuracy: {metadata['accuracy']}")
                    else:
                        model, metadata = found
                        self.stdout.write(f"Reusing {dataset} {variant} checkpoint from {checkpoints}")
                    weights, _ = checkpoint_paths(checkpoints, dataset, variant, preset.name)
                    explainers.append(Explainer(variant, model, preset.name, weights.name))
                per_dataset.append((dataset, test_data, explainers, options["images_per_dataset"]))
            self.stdout.write(write_accuracy_table(checkpoints))
            records = write_stimuli(options["out"], per_dataset, options["seed"], device,
                                    list(dict.fromkeys(options["methods"])), options["rendering"], options["scaling"],
                                    top_k, error_share)
        except (DataError, SelectionError, CheckpointError) as error:
            raise CommandError(str(error)) from error
        if error_share is not None:
            shares = error_shares(records)
            for dataset in datasets:
                counts = [(variant, *shares[dataset, variant]) for variant in variants]
                self.stdout.write(f"Error share on the {counts[0][2]} chosen {dataset} images (asked "
                                  f"{error_share:g}): " + ", ".join(f"{variant} {wrong / images:.2f} ({wrong} wrong)"
                                                                   for variant, wrong, images in counts))
        count = sum(record["model"] == "saliency.stimulus" for record in records)
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} stimuli to {options['out'] / 'stimuli.json'}"))
