"""The stimulus records that `manage.py generate_stimuli` writes to fixtures/stimuli.json and that
`manage.py import_stimuli` makes from a researcher's own images and maps.

PNG paths are relative to settings.STIMULI_ROOT and opaque: they name neither the
model, the method nor the class, so serving them cannot unblind a participant.
Datasets, models (variants) and methods are free text: the built-in ones below, or an imported study's names.
"""

from django.db import models


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


class SourceImage(models.Model):
    """A test-set image; its stimuli are the maps that each model and method give for it."""

    dataset = models.CharField(max_length=64, help_text="fmnist, cifar10, imagenette, or an imported dataset's name.")
    test_index = models.PositiveIntegerField(null=True, blank=True,
                                             help_text="Index of the image in the dataset's test split "
                                                       "(empty for an imported image without one).")
    class_name = models.CharField(max_length=64)
    image = models.CharField(max_length=255, help_text="PNG path relative to STIMULI_ROOT.")

    class Meta:
        ordering = ["dataset", "test_index"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "test_index"], name="unique_source_image"),
        ]

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

    class Meta:
        ordering = ["source_image", "variant", "method"]
        verbose_name_plural = "stimuli"
        constraints = [
            models.UniqueConstraint(fields=["source_image", "variant", "method"], name="unique_stimulus_condition"),
        ]

    def __str__(self):
        return f"{self.source_image} / {self.variant} / {self.method}"
