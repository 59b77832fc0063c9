"""manage.py import_stimuli MANIFEST.csv: stimuli from images and maps made anywhere, all or nothing."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from saliency.models import SourceImage, Stimulus
from saliency.stimuli import PNG_FOLDER


def database_conflicts(stimuli):
    """Rows that clash with records already there: the same image, model and method, or a test index taken."""
    problems = []
    for stimulus in stimuli:
        image = stimulus.image
        path = f"{PNG_FOLDER}/{image.file_name}"
        if Stimulus.objects.filter(source_image__dataset=image.dataset, source_image__image=path,
                                   variant=stimulus.model, method=stimulus.method).exists():
            problems.append(f"row {stimulus.row}: this image's map by model {stimulus.model!r} and method "
                            f"{stimulus.method!r} is already imported.")
        elif image.test_index is not None and SourceImage.objects.filter(
                dataset=image.dataset, test_index=image.test_index).exclude(image=path).exists():
            problems.append(f"row {stimulus.row}: test_index {image.test_index} of dataset {image.dataset!r} is "
                            "already another image.")
    return problems


class Command(BaseCommand):
    help = (
        "Import stimuli from a manifest of images and maps made anywhere (columns image,map,dataset,class_name,"
        "model,method, optionally predicted_class,confidence,test_index; paths relative to the manifest). Maps "
        "(.npy H x W arrays or grayscale PNGs) are rendered with the project's normalisation and colormap under "
        "opaque names. A manifest with any bad row imports nothing and names every bad row."
    )

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check the manifest; import nothing.")

    def handle(self, *args, **options):
        from saliency.importing import ManifestError, read_manifest

        try:
            stimuli = read_manifest(options["manifest"])
        except ManifestError as error:
            raise CommandError(f"Nothing was imported; fix these and run it again:\n{error}") from error
        problems = database_conflicts(stimuli)
        if problems:
            raise CommandError("Nothing was imported; fix these and run it again:\n" + "\n".join(problems))
        images = {s.image.file_name: s.image for s in stimuli}
        summary = (f"{len(stimuli)} stimuli of {len(images)} images; models "
                   f"{', '.join(dict.fromkeys(s.model for s in stimuli))}; methods "
                   f"{', '.join(dict.fromkeys(s.method for s in stimuli))}")
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
                Stimulus.objects.bulk_create([
                    Stimulus(source_image=records[s.image.file_name], variant=s.model, method=s.method,
                             heatmap=f"{PNG_FOLDER}/{s.file_name}", predicted_class=s.predicted_class,
                             confidence=s.confidence, checkpoint=s.map_path[-255:])
                    for s in stimuli])
        except Exception:
            for path in created:
                path.unlink(missing_ok=True)
            raise
        self.stdout.write(self.style.SUCCESS(f"Imported {summary}; PNGs in {settings.STIMULI_ROOT / PNG_FOLDER}."))

    def write_pngs(self, items, created):
        """Write each item's PNG under STIMULI_ROOT, adding to `created` those that were not there before."""
        folder = Path(settings.STIMULI_ROOT) / PNG_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for item in items:
            path = folder / item.file_name
            if not path.exists():
                created.append(path)
                path.write_bytes(item.png)
