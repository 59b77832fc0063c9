"""manage.py import_stimuli MANIFEST.csv: stimuli from images and maps made anywhere, all or nothing.

New records take new ids (fixtures name theirs by natural keys, so no later loaddata overwrites them); the
stimuli get theirs in a seeded shuffle, as generate_stimuli's do, so no id tells a model or method.
"""

import random
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from saliency.management.options import add_rendering_options
from saliency.models import SourceImage, Stimulus
from saliency.names import PREDICTION_RANK
from saliency.stimuli import PNG_FOLDER


def database_conflicts(stimuli):
    """Rows that clash with records already there: the same image, model, method and target rank; the same image
    stored with another class or test index; or a test index another image holds."""
    problems = []
    for stimulus in stimuli:
        image = stimulus.image
        path = f"{PNG_FOLDER}/{image.file_name}"
        stored = SourceImage.objects.filter(dataset=image.dataset, image=path).first()
        rank = stimulus.target.target_rank
        if Stimulus.objects.filter(source_image__dataset=image.dataset, source_image__image=path,
                                   variant=stimulus.model, method=stimulus.method, target_rank=rank).exists():
            problems.append(f"row {stimulus.row}: this image's map by model {stimulus.model!r} and method "
                            f"{stimulus.method!r}" + (f" of target_rank {rank}" if rank != PREDICTION_RANK else "")
                            + " is already imported or loaded.")
        elif stored is not None and (stored.class_name, stored.test_index) != (image.class_name, image.test_index):
            problems.append(f"row {stimulus.row}: this image is already stored in dataset {image.dataset!r} as "
                            f"class_name {stored.class_name!r}, test_index {stored.test_index}; give the same "
                            "class_name and test_index, or another dataset name.")
        elif image.test_index is not None and SourceImage.objects.filter(
                dataset=image.dataset, test_index=image.test_index).exclude(image=path).exists():
            problems.append(f"row {stimulus.row}: test_index {image.test_index} of dataset {image.dataset!r} is "
                            "already another image.")
    return problems


class Command(BaseCommand):
    help = (
        "Import stimuli from a manifest of images and maps made anywhere (columns image,map,dataset,class_name,"
        "model,method, optionally predicted_class,confidence,test_index,settings,target_class,target_rank,"
        "true_class,top_classes,top_probabilities; paths relative to the manifest). "
        "Maps (.npy H x W arrays or grayscale PNGs) are rendered with the project's normalisation and the chosen "
        "rendering under opaque names. A manifest with any bad row imports nothing and names every bad row."
    )

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path)
        add_rendering_options(parser)
        parser.add_argument("--seed", type=int, default=0,
                            help="Seed of the shuffle that orders the new stimuli's ids (default 0).")
        parser.add_argument("--dry-run", action="store_true", help="Check the manifest; import nothing.")

    def handle(self, *args, **options):
        from saliency.importing import ManifestError, read_manifest

        try:
            stimuli = read_manifest(options["manifest"], options["rendering"], options["scaling"])
        except ManifestError as error:
            raise CommandError(f"Nothing was imported; fix these and run it again:\n{error}") from error
        problems = database_conflicts(stimuli)
        if problems:
            raise CommandError("Nothing was imported; fix these and run it again:\n" + "\n".join(problems))
        images = {s.image.file_name: s.image for s in stimuli}
        summary = (f"{len(stimuli)} stimuli of {len(images)} images; models "
                   f"{', '.join(dict.fromkeys(s.model for s in stimuli))}; methods "
                   f"{', '.join(dict.fromkeys(s.method for s in stimuli))}; {options['rendering']} rendering, "
                   f"scaled per {options['scaling']}")
        if options["dry_run"]:
            self.stdout.write(f"The manifest is fine: {summary}. Nothing was imported (--dry-run).")
            return
        created = []
        try:
            self.write_pngs([*images.values(), *stimuli], created)
            with transaction.atomic():
                records = {}
                for name, image in images.items():
                    records[name], _ = SourceImage.objects.get_or_create(
                        dataset=image.dataset, image=f"{PNG_FOLDER}/{name}",
                        defaults={"class_name": image.class_name, "test_index": image.test_index})
                shuffled = random.Random(options["seed"]).sample(stimuli, len(stimuli))  # ids in this order
                Stimulus.objects.bulk_create([
                    Stimulus(source_image=records[s.image.file_name], variant=s.model, method=s.method,
                             heatmap=f"{PNG_FOLDER}/{s.file_name}", predicted_class=s.predicted_class,
                             confidence=s.confidence, checkpoint=s.map_path[-255:], settings=s.settings,
                             rendering=s.rendering, scaling=s.scaling, **asdict(s.target))
                    for s in shuffled])
        except Exception:
            for path in created:
                path.unlink(missing_ok=True)
            raise
        self.stdout.write(self.style.SUCCESS(f"Imported {summary}; PNGs in {settings.STIMULI_ROOT / PNG_FOLDER}; "
                                             f"ids shuffled with seed {options['seed']}."))

    def write_pngs(self, items, created):
        """Write each item's PNG under STIMULI_ROOT, adding to `created` those that were not there before."""
        folder = Path(settings.STIMULI_ROOT) / PNG_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for item in items:
            path = folder / item.file_name
            if not path.exists():
                created.append(path)
                path.write_bytes(item.png)
