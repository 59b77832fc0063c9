"""The stimulus records that `manage.py generate_stimuli` writes to fixtures/stimuli.json.

PNG paths are relative to settings.STIMULI_ROOT and opaque: they name neither the
model nor the class, so serving them cannot unblind a participant.
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


class SourceImage(models.Model):
    """A test-set image; its stimuli are the maps that each model gives for it."""

    dataset = models.CharField(max_length=16, choices=Dataset.choices)
    test_index = models.PositiveIntegerField(help_text="Index of the image in the dataset's test split.")
    class_name = models.CharField(max_length=64)
    image = models.CharField(max_length=255, help_text="PNG path relative to STIMULI_ROOT.")

    class Meta:
        ordering = ["dataset", "test_index"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "test_index"], name="unique_source_image"),
        ]

    def __str__(self):
        return f"{self.get_dataset_display()} #{self.test_index} ({self.class_name})"


class Stimulus(models.Model):
    """One image + saliency-map pair: what a participant rates."""

    source_image = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="stimuli")
    variant = models.CharField(max_length=4, choices=Variant.choices)
    heatmap = models.CharField(max_length=255, help_text="PNG path relative to STIMULI_ROOT.")
    predicted_class = models.CharField(max_length=64)
    confidence = models.FloatField()
    preset = models.CharField(max_length=32)
    checkpoint = models.CharField(max_length=255)
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
        ordering = ["source_image", "variant"]
        verbose_name_plural = "stimuli"
        constraints = [
            models.UniqueConstraint(fields=["source_image", "variant"], name="unique_stimulus_variant"),
        ]

    def __str__(self):
        return f"{self.source_image} / {self.variant}"
