"""A study, its participants, each participant's plan of trials, and their answers.

A participant's plan (their `Trial` rows, in the order they are shown) is drawn once, from a
recorded seed, when they consent. Each answer hangs one-to-one on its trial, so the database
itself refuses a second answer to the same trial.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from saliency.models import SourceImage, Stimulus

LIKERT_MIN, LIKERT_MAX = 1, 5
JUSTIFICATION_MAX_LENGTH = 2000


def default_likert_labels():
    return ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]


def new_trial_token():
    """128 random bits: the trial's opaque name in its answer form and image URLs."""
    return secrets.token_urlsafe(16)


class Study(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    consent_text = models.TextField(
        blank=True, help_text="What participants agree to, as your ethics board approved it: plain text, a blank "
                              "line between paragraphs. Blank: the built-in text about this kind of study.",
    )
    stimuli = models.ManyToManyField(Stimulus, related_name="studies")
    sufficiency_statement = models.CharField(
        max_length=300, default="The heatmap has enough information to understand the prediction."
    )
    trust_statement = models.CharField(max_length=300, default="Given this heatmap, I can trust the model.")
    likert_labels = models.JSONField(
        default=default_likert_labels, help_text="Five labels, for answers 1 (first) to 5 (last)."
    )
    comparison_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Side-by-side comparisons per participant; blank: every image of the study."
    )
    attention_checks = models.BooleanField(default=True, help_text="Mix instructed-response items into the trials.")
    completion_code = models.CharField(max_length=64, blank=True)
    completion_redirect_url = models.URLField(blank=True, help_text="Sent here on completion, if set.")
    seed = models.BigIntegerField(help_text="Base seed; each participant's order seed is drawn from it and recorded.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return self.title


class Participant(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participant")
    pseudonym = models.CharField(max_length=32, unique=True, help_text="The id that exports carry.")
    invite_token = models.CharField(max_length=64, unique=True)
    seed = models.BigIntegerField(help_text="Seed of this participant's trial order and side-by-side positions.")
    consented_at = models.DateTimeField(null=True, blank=True)
    instructions_read_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    degree = models.CharField(max_length=32, blank=True)
    cv_experience_years = models.PositiveSmallIntegerField(null=True, blank=True)

    def __str__(self):
        return self.pseudonym


class Trial(models.Model):
    """One page of a participant's plan: a rating, an attention check, or a side-by-side choice."""

    class Kind(models.TextChoices):
        RATING = "rating", "Rating"
        ATTENTION = "attention", "Attention check"
        CHOICE = "choice", "Side-by-side choice"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    position = models.PositiveIntegerField(help_text="1-based page order within the participant's plan.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    stimulus = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_image = models.ForeignKey(SourceImage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    left = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    middle = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    right = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    attention_target = models.PositiveSmallIntegerField(null=True, blank=True)
    shown_at = models.DateTimeField(null=True, blank=True, help_text="First time the page was served.")
    token = models.CharField(max_length=32, unique=True, default=new_trial_token, editable=False,
                             help_text="Opaque reference in answer forms and image URLs; never the stimulus id.")

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "position"], name="unique_trial_position"),
            models.CheckConstraint(
                condition=(
                    Q(kind="rating", stimulus__isnull=False)
                    | Q(kind="attention", attention_target__isnull=False)
                    | Q(kind="choice", source_image__isnull=False, left__isnull=False,
                        middle__isnull=False, right__isnull=False)
                ),
                name="trial_kind_has_its_fields",
            ),
        ]

    def __str__(self):
        return f"{self.participant} #{self.position} ({self.kind})"


def likert_field():
    return models.PositiveSmallIntegerField(
        validators=[MinValueValidator(LIKERT_MIN), MaxValueValidator(LIKERT_MAX)]
    )


class LikertResponse(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="likert_response")
    sufficiency = likert_field()
    trust = likert_field()
    rt_ms = models.PositiveIntegerField(help_text="Milliseconds from first showing the page to the answer.")
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sufficiency__gte=LIKERT_MIN, sufficiency__lte=LIKERT_MAX),
                                   name="sufficiency_in_likert_range"),
            models.CheckConstraint(condition=Q(trust__gte=LIKERT_MIN, trust__lte=LIKERT_MAX),
                                   name="trust_in_likert_range"),
        ]


class AttentionCheck(models.Model):
    """The answer to an instructed-response item ("select 'Agree' here")."""

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="attention_response")
    answer = likert_field()
    rt_ms = models.PositiveIntegerField()
    answered_at = models.DateTimeField(auto_now_add=True)

    @property
    def passed(self):
        return self.answer == self.trial.attention_target


class ChoiceResponse(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="choice_response")
    chosen = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField(max_length=JUSTIFICATION_MAX_LENGTH)
    rt_ms = models.PositiveIntegerField()
    answered_at = models.DateTimeField(auto_now_add=True)
