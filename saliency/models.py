"""The stimulus records that `manage.py generate_stimuli` writes to fixtures/stimuli.json and that
`manage.py import_stimuli` makes from a researcher's own images and maps.

PNG paths are relative to settings.STIMULI_ROOT and opaque: they name neither the
model, the method nor the class, so serving them cannot unblind a participant.
Datasets, models (variants) and methods are free text: the built-in ones below, or an imported study's names.

Fixtures name records by natural keys, never by primary key: a source image by its dataset and its content-named
PNG, a stimulus by its source image, model, method and target rank (1, the model's prediction, where a fixture
leaves it out). `loaddata` then adds the records a database lacks under
new ids and leaves every stored record as it is: a fixture record that would change one (or take a test index
another image holds) stops loaddata with FixtureConflict, and nothing is loaded.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .names import DEFAULT_RENDERING, DEFAULT_SCALING, PREDICTION_RANK, RENDERINGS, SCALINGS


class Dataset(models.TextChoices):
    FMNIST = "fmnist", "Fashion-MNIST"
    CIFAR10 = "cifar10", "CIFAR-10"
    IMAGENETTE = "imagenette", "ImageNette"


class Variant(models.TextChoices):
    N = "N", "Natural training"
    A = "A", "PGD adversarial training"
    M1 = "M1", "Adversarial training + mean smoothing"
    M2 = "M2", "Adversarial training + median smoothing"
    G = "G", "Adversarial training + Gaussian smoothing"


class Method(models.TextChoices):
    """The explanation methods generate_stimuli computes (saliency.attribution.METHODS)."""

    VG = "VG", "Vanilla Gradient"
    IG = "IG", "Integrated Gradients"
    SG = "SG", "SmoothGrad"
    GRADCAM = "GradCAM", "Grad-CAM"


class Rendering(models.TextChoices):
    """How the map's values became colours (saliency.rendering)."""

    SEQUENTIAL = RENDERINGS[0], "Sequential: 0 (and below) dark, the largest values bright"
    ABSOLUTE = RENDERINGS[1], "Absolute value: the magnitude, whatever its sign"
    DIVERGING = RENDERINGS[2], "Diverging: negative blue, zero white, positive red, on a symmetric range"


class Scaling(models.TextChoices):
    MAP = SCALINGS[0], "Per map"
    IMAGE = SCALINGS[1], "Shared by the models' maps of one image and method"


class SourceImageManager(models.Manager):
    def get_by_natural_key(self, dataset, image):
        return self.get(dataset=dataset, image=image)


class StimulusQuerySet(models.QuerySet):
    def predicted(self):
        """The maps of the model's prediction (target rank 1): the only ones rating and side-by-side pages show."""
        return self.filter(target_rank=PREDICTION_RANK)


class StimulusManager(models.Manager.from_queryset(StimulusQuerySet)):
    def get_by_natural_key(self, dataset, image, variant, method, target_rank=PREDICTION_RANK):
        """A key without the rank (fixtures written before issue 29) names the map of the model's prediction."""
        return self.get(source_image__dataset=dataset, source_image__image=image, variant=variant, method=method,
                        target_rank=target_rank)


class SourceImage(models.Model):
    """A test-set image; its stimuli are the maps that each model and method give for it."""

    dataset = models.CharField(max_length=64, help_text="fmnist, cifar10, imagenette, or an imported dataset's name.")
    test_index = models.PositiveIntegerField(null=True, blank=True,
                                             help_text="Index of the image in the dataset's test split "
                                                       "(empty for an imported image without one).")
    class_name = models.CharField(max_length=64)
    image = models.CharField(max_length=255, help_text="PNG path relative to STIMULI_ROOT.")

    objects = SourceImageManager()

    class Meta:
        ordering = ["dataset", "test_index"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "test_index"], name="unique_source_image"),
            models.UniqueConstraint(fields=["dataset", "image"], name="unique_source_image_file"),
        ]

    def natural_key(self):
        """The dataset and the PNG, whose name is a hash of its content (saliency.rendering.png_file_name)."""
        return self.dataset, self.image

    def __str__(self):
        dataset = dict(Dataset.choices).get(self.dataset, self.dataset)
        return f"{dataset} #{self.test_index if self.test_index is not None else self.pk} ({self.class_name})"


class Stimulus(models.Model):
    """One image + saliency-map pair: what a participant rates."""

    source_image = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="stimuli")
    variant = models.CharField(max_length=64, help_text="The model: N, A, M1, M2, G, or an imported model's name.")
    method = models.CharField(max_length=64, default=Method.VG,
                              help_text="The explanation method: VG, IG, SG, GradCAM, or an imported method's name.")
    heatmap = models.CharField(max_length=255, help_text="PNG path relative to STIMULI_ROOT.")
    predicted_class = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    preset = models.CharField(max_length=32, blank=True, help_text="Training preset (empty for imported maps).")
    checkpoint = models.CharField(max_length=255, blank=True,
                                  help_text="Checkpoint file, or the imported map's file name.")
    # The map's explanation metrics (saliency.metrics, as manage.py evaluate_explanations computes them).
    # For researchers and the export only: never shown to participants.
    gini = models.FloatField(null=True, blank=True, help_text="Gini sparsity of the map (higher: sparser).")
    ris = models.FloatField(null=True, blank=True, help_text="Relative input stability (lower: more stable); "
                                                             "empty when noise changed the prediction.")
    ros = models.FloatField(null=True, blank=True, help_text="Relative output stability (lower: more stable); "
                                                             "empty when noise changed the prediction.")
    road_aopc = models.FloatField(null=True, blank=True, help_text="ROAD AOPC, most relevant first (higher: more "
                                                                   "faithful).")
    ssim = models.FloatField(null=True, blank=True, help_text="SSIM with the map of a noisy copy (higher: more "
                                                              "stable); empty when no copy kept the prediction.")
    rendering = models.CharField(max_length=16, choices=Rendering.choices, default=DEFAULT_RENDERING,
                                 help_text="How the map's values became colours.")
    scaling = models.CharField(max_length=16, choices=Scaling.choices, default=DEFAULT_SCALING,
                               help_text="The range the colours span: the map's own, or one shared by the models' "
                                         "maps of the image (by the same method).")
    settings = models.JSONField(default=dict, blank=True,
                                help_text="The method's settings as the researcher gave them (e.g. epsilon, target "
                                          "layer, baseline): free JSON, kept and exported.")
    # The class the map explains (issue 29). The true class is source_image.class_name; the model is right on the
    # image iff predicted_class equals it.
    target_class = models.CharField(max_length=64, blank=True,
                                    help_text="The class the map explains (a map of rank 1: the predicted class).")
    target_rank = models.PositiveSmallIntegerField(
        default=PREDICTION_RANK, validators=[MinValueValidator(1)],
        help_text="The target class's rank in the model's output: 1 = its prediction, 2 = its runner-up, ... "
                  "Rating and side-by-side pages show rank 1 only; a distinction page shows the top-k.")
    target_probability = models.FloatField(null=True, blank=True,
                                           help_text="The model's softmax probability of the target class.")
    top_classes = models.JSONField(default=list, blank=True,
                                   help_text="The model's top-K classes on the image, most probable first (the "
                                             "options of a task page); empty: not recorded.")
    top_probabilities = models.JSONField(default=list, blank=True,
                                         help_text="The model's probabilities of top_classes, in the same order.")

    objects = StimulusManager()

    class Meta:
        ordering = ["source_image", "variant", "method", "target_rank"]
        verbose_name_plural = "stimuli"
        constraints = [
            models.UniqueConstraint(fields=["source_image", "variant", "method", "target_rank"],
                                    name="unique_stimulus_target"),
            models.CheckConstraint(condition=models.Q(target_rank__gte=1), name="stimulus_target_rank_from_1"),
        ]

    def __str__(self):
        target = f" / rank {self.target_rank}: {self.target_class}" if self.target_rank != PREDICTION_RANK else ""
        return f"{self.source_image} / {self.variant} / {self.method}{target}"

    def clean(self):
        if len(self.top_classes) != len(self.top_probabilities):
            raise ValidationError({"top_probabilities": f"{len(self.top_probabilities)} probabilities for "
                                                        f"{len(self.top_classes)} top classes: give one per class."})

    def name_prediction_target(self):
        """A map of rank 1 that names no target explains the model's prediction: records made before targets were
        recorded, and fixtures and manifests that leave them out (migration 0005 applies this rule to the rows it
        finds)."""
        if self.target_rank == PREDICTION_RANK and not self.target_class:
            self.target_class = self.predicted_class
            if self.target_probability is None:
                self.target_probability = self.confidence

    def natural_key(self):
        return (*self.source_image.natural_key(), self.variant, self.method, self.target_rank)

    natural_key.dependencies = ["saliency.sourceimage"]


class FixtureConflict(CommandError, ValueError):
    """A fixture record that would change a stored record or take a key one holds. As a ValueError, loaddata names
    the record in its message and rolls everything back; as a CommandError, manage.py prints it without a
    traceback and exits 1."""


def _stored_differences(instance, stored):
    return [f"{field.name}: stored {field.value_from_object(stored)!r}, fixture {field.value_from_object(instance)!r}"
            for field in type(instance)._meta.concrete_fields
            if not field.primary_key and field.value_from_object(stored) != field.value_from_object(instance)]


KEEP_STORED = ("loaddata loaded nothing: it never overwrites a stored record. Give your imported records another "
               "dataset name (or test index), or delete the stored record first.")


@receiver(pre_save, sender=Stimulus)
def name_prediction_target(sender, instance, **kwargs):
    """Before keep_stored_records compares a fixture's record with the stored one (receivers run in this order)."""
    instance.name_prediction_target()


@receiver(pre_save, sender=SourceImage)
@receiver(pre_save, sender=Stimulus)
def keep_stored_records(sender, instance, raw, **kwargs):
    """A record that loaddata saves (raw) may add to the database or repeat a stored record; never change one."""
    if not raw:
        return
    name = sender._meta.verbose_name
    stored = sender.objects.filter(pk=instance.pk).first() if instance.pk is not None else None
    if stored is not None:
        differences = _stored_differences(instance, stored)
        if differences:
            raise FixtureConflict(f"the fixture's {name} {instance.natural_key()} differs from the stored one "
                                  f"(id {stored.pk}): {'; '.join(differences)}. {KEEP_STORED}")
    for constraint in sender._meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint):
            continue
        values = {field: getattr(instance, sender._meta.get_field(field).attname) for field in constraint.fields}
        if None in values.values():
            continue
        holder = sender.objects.filter(**{sender._meta.get_field(n).attname: v for n, v in values.items()})
        holder = holder.exclude(pk=instance.pk).first() if instance.pk is not None else holder.first()
        if holder is not None:
            shared = ", ".join(f"{field} {value!r}" for field, value in values.items())
            raise FixtureConflict(f"the fixture's {name} {instance.natural_key()} and the stored {name} {holder} "
                                  f"(id {holder.pk}) both have {shared}. {KEEP_STORED}")
