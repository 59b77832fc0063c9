"""A study, its consent versions, its participants, each participant's plan of trials, and their answers.

A participant's plan (their `Trial` rows, in the order they are shown) is drawn once, from a
recorded seed, when they consent. Each answer hangs one-to-one on its trial, so the database
itself refuses a second answer to the same trial. Consent texts are kept as numbered versions that
are never edited, and each participant records the version they agreed to.
"""

import json
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.urls import reverse

from saliency.models import SourceImage, Stimulus

from . import opening, platforms, randomization, schema
from .quality import MIN_COMPLETIONS_TO_JUDGE, Thresholds
from .schema import DELETED_OUTCOMES, SIDE_BY_SIDE_SLOTS

LIKERT_MIN, LIKERT_MAX = 1, 5
CONFIDENCE_MIN, CONFIDENCE_MAX = schema.CONFIDENCE_LEVELS[0], schema.CONFIDENCE_LEVELS[-1]
MIN_TOP_K, MAX_TOP_K = 2, len(SIDE_BY_SIDE_SLOTS)  # a distinction page shows the maps of the top 2 to 4 classes
PILOT_MARK = " (pilot)"  # after a pilot copy's title, for staff only
PAGES_BEFORE_TRIALS = 3  # consent, instructions, background (studyapp.flow)
JUSTIFICATION_MAX_LENGTH = 2000


DEFAULT_CONSENT_TEXT = """\
You are invited to take part in a study about how people understand saliency maps: images that highlight the \
parts of a picture that an image classifier relied on for its prediction.

You will rate pairs of an image and its saliency map, then compare three maps of the same image. The study \
requires seeing images: every page shows pictures that you judge by looking at them.

Taking part is voluntary. Your answers are saved as you go, and you can come back with the same link. You may \
stop at any time, and withdraw at any time while you take part with the link at the bottom of each page, or \
afterwards by asking the researchers: your answers are then deleted.

Your answers are stored under a pseudonymous identifier and analysed only in aggregate."""


def default_likert_labels():
    return ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]


def likert_labels_problem(labels):
    """Why `labels` cannot label the answers 1 to 5 (a page shows one radio button per label, and an attention
    check names one by its text), or "" if they can."""
    count = LIKERT_MAX - LIKERT_MIN + 1
    if not isinstance(labels, list) or len(labels) != count or not all(
            isinstance(label, str) and label.strip() for label in labels):
        return (f"Give {count} labels, for answers {LIKERT_MIN} to {LIKERT_MAX}, as a list of texts, e.g. "
                f"{json.dumps(default_likert_labels())}.")
    if len({label.strip().casefold() for label in labels}) < count:
        return "Give each answer its own label: an attention check names the answer to select by its label."
    return ""


def new_trial_token():
    """128 random bits: the trial's opaque name in its answer form and image URLs."""
    return secrets.token_urlsafe(16)


def stimulus_refs(stimuli):
    """What the planner needs of a queryset of stimuli (randomization.StimulusRef), in one query: the maps of each
    model's prediction (target rank 1), the only ones rating and side-by-side pages show."""
    return [randomization.StimulusRef(pk, image, variant, method)
            for pk, image, variant, method in stimuli.predicted().values_list("pk", "source_image_id", "variant",
                                                                              "method")]


def task_stimulus_refs(stimuli):
    """What task pages need of a queryset of stimuli (randomization.TaskStimulusRef), in one query: every map, of
    each of the model's top classes, with its image's true class."""
    fields = ("pk", "source_image_id", "variant", "method", "target_rank", "target_class", "top_classes",
              "source_image__class_name")
    return tuple(randomization.TaskStimulusRef(pk, image, variant, method, rank, target, tuple(top or ()), true)
                 for pk, image, variant, method, rank, target, top, true in stimuli.values_list(*fields))


def validate_ending_url(template):
    problem = platforms.placeholder_problem(template)
    if problem:
        raise ValidationError(problem)


def ending_code_field(ending):
    return models.CharField(max_length=64, blank=True, help_text=f"Shown to participants {ending}.")


def ending_url_field(ending):
    return models.URLField(
        max_length=500, blank=True, validators=[validate_ending_url],
        help_text=f"If set, participants {ending} are sent here instead of to a page that shows the code. "
                  "Placeholders: {code}, {external_id} (their platform ID), {survey_code} (SONA's name for it).")


class RecruitmentSource(models.TextChoices):
    NONE = "", "None: personal invite links only"
    PROLIFIC = platforms.PROLIFIC, "Prolific"
    MTURK = platforms.MTURK, "MTurk"
    SONA = platforms.SONA, "SONA"
    GENERIC = platforms.GENERIC, "Another site (name its ID parameter)"


class Comparison(models.TextChoices):
    MODELS = randomization.COMPARE_MODELS, "The models under one method"
    METHODS = randomization.COMPARE_METHODS, "The methods for one model"


class Ending(models.TextChoices):
    """The ways a participation ends; each has its own code and redirect in the study."""

    COMPLETED = "completed", "Completed"
    NO_CONSENT = "no_consent", "No consent"
    ATTENTION_FAILED = "attention_failed", "Failed attention checks"
    OVER_QUOTA = "over_quota", "Over quota or closed"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Endings whose code hands work in (to be approved or reviewed); the others ask the person to return the study.
HANDS_IN_ENDINGS = (Ending.COMPLETED, Ending.ATTENTION_FAILED)


ATTENTION_FAILURES_TO_END = 2  # Prolific: a submission may be rejected for failed checks only from the second on


class AttentionFailureEnding(models.TextChoices):
    FLAG = "", "None: failed checks are only flagged in the export"
    AT_END = "at_end", "After the last page: the failed-attention ending for those who failed two checks"
    SECOND = "second", "At the second failed check: it ends the study with the failed-attention ending"
    EARLY = "early", "At once: the first failed check ends the study (Prolific does not allow this)"


class Study(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(
        max_length=200, help_text="Shown at the top of every participant page and in its browser tab: write "
                                  "nothing participants should not see (no model names or hypotheses).")
    consent_text = models.TextField(
        blank=True, help_text="What participants agree to, as your ethics board approved it: plain text, a blank "
                              "line between paragraphs. Say that the study requires seeing images. Blank: the "
                              "built-in text about this kind of study.",
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
    map_legend = models.BooleanField(
        "colour key", default=False,
        help_text="Show a colour key under the maps of the rating and side-by-side pages, saying in words what the "
                  "colours mean (from how the maps were drawn: e.g. 'Dark: less important', or for signed maps "
                  "'Blue: against the prediction'). It never names a method or model.")
    comparison = models.CharField(
        "side-by-side compares", max_length=16, choices=Comparison.choices, default=Comparison.MODELS,
        help_text="What the maps of a side-by-side page differ in: the models under one method, or the methods for "
                  "one model; a page shows as many maps (2 to 4) as the image has of them. The study's conditions "
                  "are the model x method cells of its stimuli.")
    views_per_image = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="How many times a participant rates each image, each time under another condition (a balanced "
                  "incomplete design, rotated over participants in order of consent). Blank: every stimulus.")
    attention_failure_ending = models.CharField(
        max_length=16, choices=AttentionFailureEnding.choices, blank=True,
        help_text="Whether failing attention checks ends the participation with its own ending. Prolific lets you "
                  "reject a submission only for two failed checks (in a study of 5 minutes or more): choose 'At the "
                  "second failed check' or 'After the last page' there.")
    recruitment_source = models.CharField(
        max_length=16, choices=RecruitmentSource.choices, blank=True,
        help_text="Where people come from: the platform sends them to the study link below with their ID.")
    id_parameter = models.CharField(
        max_length=40, blank=True,
        help_text="Another site only: the link's query parameter that carries the person's ID, e.g. pid.")
    is_open = models.BooleanField(
        "open", default=True,
        help_text="New people may arrive through the study link. Those already in can always go on.")
    max_participants = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Places, counted as Prolific counts them: completed participants and those actively in the "
                  "study. Arrivals beyond it get the over-quota ending. Blank: no limit. On Prolific, which limits "
                  "its own places and reopens one at once when someone returns, set it to Prolific's places plus "
                  "the returns you expect after consent (e.g. 10% more): someone who returns after consenting "
                  "keeps a place here until the inactivity limit below, one who returns before, for minutes.")
    inactivity_limit = models.DurationField(
        default=timedelta(hours=2),
        help_text="A participant who consented and then shows no new page for this long gives up their place "
                  "when a newcomer needs it, e.g. 1:00:00. On Prolific, set it to the study's maximum time "
                  "allowed, after which Prolific times them out and reopens their place.")
    unconsented_limit = models.DurationField(
        "place held before consent", default=timedelta(minutes=10),
        help_text="Someone who opened the link but has not consented gives up their place after this long when "
                  "a newcomer needs it, e.g. 0:10:00. Most people who return a Prolific study do so on the "
                  "consent page, and Prolific reopens their place at once.")
    completion_code = ending_code_field("who completed the study")
    completion_redirect_url = ending_url_field("who completed the study")
    no_consent_code = ending_code_field("who did not consent")
    no_consent_redirect_url = ending_url_field("who did not consent")
    attention_failed_code = models.CharField(
        max_length=64, blank=True,
        help_text="Shown to participants who failed the attention checks. On Prolific, give this code the action "
                  "'Manually review' (a check of yours, then reject if you must), never 'Reject' automatically.")
    attention_failed_redirect_url = ending_url_field("who failed the attention checks")
    over_quota_code = ending_code_field("who arrive when the study is full or closed")
    over_quota_redirect_url = ending_url_field("who arrive when the study is full or closed")
    withdrawn_code = ending_code_field("who withdraw")
    withdrawn_redirect_url = ending_url_field("who withdraw")
    seconds_per_page = models.PositiveIntegerField(
        default=12, validators=[MinValueValidator(1)],
        help_text="Your guess of the seconds a page takes, for the estimated duration until the study's pilot "
                  "copies (or the study itself) have enough real completions.")
    declared_minutes = models.PositiveIntegerField(
        "declared duration (minutes)", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="The duration you declared on the recruitment platform (Prolific's 'estimated completion time'). "
                  "Prolific's attention rule (a rejection for two failed checks needs a study of 5 minutes or more) "
                  "reads it. "
                  "Required to open a Prolific study; the estimated duration shown beside it is a guide to set it.")
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies", editable=False,
        help_text="The study this one is a pilot copy of: its participants' times estimate that study's duration.")
    is_pilot = models.BooleanField(
        "pilot copy", default=False, editable=False,
        help_text="A pilot copy: staff see '(pilot)' after its title; its participants see the title alone.")
    seed = models.BigIntegerField(help_text="Base seed; each participant's order seed is drawn from it and recorded.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Data-quality flags' thresholds (studyapp.quality; docs/how-to/monitor-review-exclude.md).
    speeder_sd = models.FloatField(
        "speeder: standard deviations", default=Thresholds.speeder_sd, validators=[MinValueValidator(0.1)],
        help_text="A completed participant more than this many robust standard deviations faster than the median "
                  "(on the log scale: under median x exp(-k Qn) of the completed participants' times) is flagged a "
                  "speeder (3, as in Prolific's rule).")
    speeder_min_completions = models.PositiveIntegerField(
        "speeder: completions needed", default=Thresholds.speeder_min_completions,
        validators=[MinValueValidator(MIN_COMPLETIONS_TO_JUDGE)],
        help_text="The speeder rule applies only once this many participants have completed.")
    page_floor_ms = models.PositiveIntegerField(
        "fast page: floor (ms)", default=Thresholds.page_floor_ms,
        help_text="Pages answered faster than this are counted (shown, never alone grounds for rejection).")
    straightlining_share = models.FloatField(
        "straight-lining: share", default=Thresholds.straightlining_share,
        validators=[MinValueValidator(0.01), MaxValueValidator(1.0)],
        help_text="Flag a participant who gives one answer on a statement for at least this share of their ratings "
                  "(or whose answers to a statement never vary).")
    straightlining_min_ratings = models.PositiveIntegerField(
        "straight-lining: ratings needed", default=Thresholds.straightlining_min_ratings, validators=[MinValueValidator(2)],
        help_text="Straight-lining is judged only from this many ratings on.")
    stuck_after = models.DurationField(
        "stuck after", default=timedelta(minutes=10),
        help_text="The console highlights a participant in progress with no new page for this long, e.g. 0:10:00.")
    # Issue 29: what the task blocks pay (studyapp.scoring; bonus.csv).
    bonus_per_correct = models.DecimalField(
        "bonus per right answer above chance", max_digits=6, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Task blocks: the bonus per right answer above chance (a participant's score), in the currency "
                  "the platform pays in; bonus.csv lists each approved participant's bonus for Prolific's bulk "
                  "bonus. Blank: no bonus.")
    bonus_cap = models.DecimalField(
        "bonus cap", max_digits=6, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="The most one participant's bonus may be (e.g. HIVE's). Blank: no cap.")

    def quality_thresholds(self):
        return Thresholds(speeder_sd=self.speeder_sd, speeder_min_completions=self.speeder_min_completions,
                          page_floor_ms=self.page_floor_ms, straightlining_share=self.straightlining_share,
                          straightlining_min_ratings=self.straightlining_min_ratings)

    ENDING_FIELDS = {
        Ending.COMPLETED: ("completion_code", "completion_redirect_url"),
        Ending.NO_CONSENT: ("no_consent_code", "no_consent_redirect_url"),
        Ending.ATTENTION_FAILED: ("attention_failed_code", "attention_failed_redirect_url"),
        Ending.OVER_QUOTA: ("over_quota_code", "over_quota_redirect_url"),
        Ending.WITHDRAWN: ("withdrawn_code", "withdrawn_redirect_url"),
    }

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return self.staff_title

    @property
    def staff_title(self):
        """The title as staff see it: a pilot copy's says so (its participants see `title` alone)."""
        return f"{self.title}{PILOT_MARK}" if self.is_pilot else self.title

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        self.ensure_consent_version()

    def ensure_consent_version(self):
        """The consent text participants see now: the latest version, inserting a new one if the study's text
        has changed.

        Called when a study is saved and when the consent page is shown (also covering texts changed by
        means that skip save(), such as loaddata).
        """
        text = self.consent_text or DEFAULT_CONSENT_TEXT
        latest = self.consent_versions.order_by("-number").first()
        if latest is not None and latest.text == text:
            return latest
        number = latest.number + 1 if latest else 1
        try:
            with transaction.atomic():
                return self.consent_versions.create(number=number, text=text)
        except IntegrityError:  # a simultaneous request made that version first
            return self.consent_versions.get(number=number)

    def clean(self):
        problem = likert_labels_problem(self.likert_labels)
        if problem:
            raise ValidationError({"likert_labels": problem})
        if self.recruitment_source == RecruitmentSource.GENERIC and not platforms.PARAMETER_NAME.fullmatch(
                self.id_parameter):
            raise ValidationError({"id_parameter": "Name the query parameter that carries the person's ID: a "
                                                   "letter, then letters, digits, '.', '-' or '_' (at most 40)."})
        if self.bonus_cap is not None and self.bonus_per_correct is None:
            raise ValidationError({"bonus_cap": "Set the bonus per right answer above chance too, or leave the cap "
                                                "blank: a cap alone pays nothing."})
        if self.is_open:
            self.clean_opening()

    # The stimuli the admin's form is about to save (ManyToMany fields are saved after clean()); None: the stored ones.
    stimuli_to_save = None
    # The blocks and task conditions a form or study file is about to save with the study (iterables of model
    # instances, maybe unsaved; re-read at each check); None: the stored ones.
    blocks_to_save = None
    task_conditions_to_save = None

    def clean_opening(self):
        """An open study must pass every opening check (studyapp.opening): refused with the reasons otherwise."""
        stimuli = self.stimuli_to_save
        if stimuli is None:
            stimuli = self.stimuli.all() if self.pk else Stimulus.objects.none()
        found = {}
        for field, message in opening.problems(self, stimulus_refs(stimuli), self.task_setup(stimuli)):
            found.setdefault(field or NON_FIELD_ERRORS, []).append(message)
        if found:
            raise ValidationError(found)

    def code_for(self, ending):
        """The code this study shows with `ending` (a participant's own shown code is Participant.ending_code)."""
        return getattr(self, self.ENDING_FIELDS[ending][0])

    def code_for_outcome(self, outcome):
        """The code shown to a participant whose participation ended with `outcome`."""
        return self.code_for(ENDING_OF_OUTCOME[outcome])

    def redirect_url_for(self, ending):
        return getattr(self, self.ENDING_FIELDS[ending][1])

    def stimulus_refs(self):
        """The stimuli of the rating and side-by-side pages: the maps of each model's prediction (target rank 1);
        the maps of the other top classes are a distinction page's."""
        return stimulus_refs(self.stimuli.all())

    def task_setup(self, stimuli=None, blocks=None):
        """The study's blocks, task conditions and the stimuli its task pages may stand on (`stimuli`: a queryset,
        default the stored ones; `blocks`: the blocks where the caller read them already), as the planner reads
        them; those about to be saved where a form set them."""
        blocks = self.blocks_to_save if blocks is None else blocks
        if blocks is None:
            blocks = self.blocks.all() if self.pk else []
        conditions = self.task_conditions_to_save
        if conditions is None:
            conditions = self.task_conditions.all() if self.pk else []
        specs = tuple(sorted((block.spec for block in blocks), key=lambda spec: spec.position))
        if not any(spec.is_task for spec in specs):
            return randomization.TaskSetup(specs)  # the conditions matter to task blocks only
        if stimuli is None:
            stimuli = self.stimuli.all() if self.pk else Stimulus.objects.none()
        return randomization.TaskSetup(specs, tuple(condition.spec for condition in conditions),
                                       task_stimulus_refs(stimuli))

    def design(self, index=0):
        """The study's design settings for its participant with enrolment index `index`."""
        return randomization.Design(compare=self.comparison, views_per_image=self.views_per_image,
                                    study_seed=self.seed, index=index)

    def plan_length(self):
        """How many trials a participant of this study gets (the pages besides: plan_size)."""
        return self.plan_size()[0]

    def plan_size(self):
        """(trials, other pages) a participant of this study gets: the trials, and beside them PAGES_BEFORE_TRIALS
        and a learning guess's feedback pages; with task blocks, those of the first condition."""
        tasks = self.task_setup()
        condition = tasks.condition(0)
        trials = randomization.plan_length(self.stimulus_refs(), comparison_count=self.comparison_count,
                                           attention_checks=self.attention_checks, design=self.design(),
                                           tasks=tasks, condition=condition)
        return trials, PAGES_BEFORE_TRIALS + randomization.feedback_pages(tasks, condition)

    def platform(self):
        return platforms.platform(self.recruitment_source, self.id_parameter) if self.recruitment_source else None

    def study_link(self, base_url):
        """The URL to paste into the recruitment platform ("" without a source); `base_url`: scheme and host."""
        if not self.recruitment_source:
            return ""
        path = reverse("studyapp:study_link", kwargs={"slug": self.slug})
        return platforms.study_link(base_url.rstrip("/") + path, self.recruitment_source, self.id_parameter)


class ConsentVersion(models.Model):
    """A consent text as participants saw it; editing the study's text makes a new version, old ones stay."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="consent_versions")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the study.")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "number"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="unique_consent_version")]

    def __str__(self):
        return f"{self.study.slug} consent v{self.number}"


class Block(models.Model):
    """One part of a study, run in `position` order (issue 29). A study without blocks runs today's pages (its
    rating pages, then its side-by-side pages) exactly as before; one with blocks runs theirs in order. The task
    blocks (distinction, simulation, verification) have a right answer and write tasks.csv."""

    class Kind(models.TextChoices):
        RATING = schema.RATING_BLOCK, "Rating pages (the Likert statements)"
        CHOICE = schema.CHOICE_BLOCK, "Side-by-side choices"
        DISTINCTION = schema.DISTINCTION, "Distinction: which class does the model predict? (HIVE)"
        SIMULATION = schema.SIMULATION, "Forward simulation: learn the model, then say what it will answer"
        VERIFICATION = schema.VERIFICATION, "Verification: accept or reject the model's label"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="blocks")
    position = models.PositiveSmallIntegerField(help_text="The block's place in the study: 1, 2, ...")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    top_k = models.PositiveSmallIntegerField(
        "classes shown", default=MAX_TOP_K, validators=[MinValueValidator(MIN_TOP_K), MaxValueValidator(MAX_TOP_K)],
        help_text="Distinction: a page shows the maps of the model's top k classes, labelled with their names; "
                  "simulation: a test page offers the model's top k classes. 2 to 4.")
    images = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Task blocks: the pages per participant, each of another image (a simulation block: its test "
                  "pages). Blank: every image the block can show.")
    learning_images = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Simulation only: the learning pages per participant, on other images than the test pages.")
    learning_guess = models.BooleanField(
        default=False, help_text="Simulation only: a learning page first asks what the model will say, then shows "
                                 "whether the guess was right.")
    show_true_class = models.BooleanField(
        default=False, help_text="Show the image's true class: on distinction pages (HIVE's 'labels' variant) and "
                                 "on the learning pages of a simulation block.")
    ask_true_class = models.BooleanField(
        default=False, help_text="Distinction only: also ask 'Which class is correct?', with its own confidence.")

    # The settings each kind of block reads; Block.clean refuses the others away from their defaults, so that a
    # setting never seems to do what its block ignores.
    SETTINGS = {
        schema.RATING_BLOCK: (), schema.CHOICE_BLOCK: (),
        schema.DISTINCTION: ("top_k", "images", "show_true_class", "ask_true_class"),
        schema.SIMULATION: ("top_k", "images", "learning_images", "learning_guess", "show_true_class"),
        schema.VERIFICATION: ("images",),
    }

    class Meta:
        ordering = ["study", "position"]
        constraints = [models.UniqueConstraint(fields=["study", "position"], name="unique_block_position")]

    def __str__(self):
        return f"{self.study.slug} block {self.position} ({self.kind})"

    def clean(self):
        used = self.SETTINGS.get(self.kind)
        if used is None:
            return  # the kind field names its own problem
        errors = {}
        for name in dict.fromkeys(name for names in self.SETTINGS.values() for name in names):
            default = self._meta.get_field(name).get_default()
            if name in used or getattr(self, name) == default:
                continue
            *others, last = [kind for kind, names in self.SETTINGS.items() if name in names]
            users = f"{', '.join(others)} and {last}" if others else last
            leave = "blank" if default is None else "unticked" if default is False else f"at {default}"
            errors[name] = f"A {self.kind} block does not use this setting (only {users} blocks do): leave it {leave}."
        if self.kind == schema.DISTINCTION and self.show_true_class and self.ask_true_class:
            errors["ask_true_class"] = ("The page shows the true class, so 'Which class is correct?' would ask what it "
                                        "shows: untick one of them.")
        if errors:
            raise ValidationError(errors)

    @property
    def is_task(self):
        return self.kind in schema.TASKS

    @property
    def spec(self):
        return randomization.BlockSpec(self.position, self.kind, self.top_k, self.images, self.learning_images,
                                       self.learning_guess, self.ask_true_class)


class TaskCondition(models.Model):
    """A between-participants condition of a study's task blocks: one model's maps by one method, or (method
    blank) the same model with no map, the control. Participants are assigned to them evenly in order of
    consent."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="task_conditions")
    model = models.CharField(max_length=64, help_text="The model whose answers the tasks are about (a stimulus "
                                                      "variant, e.g. N). A control still names one.")
    method = models.CharField(max_length=64, blank=True,
                              help_text="The method of the maps shown, e.g. VG. Blank: no map (the 'none' control).")

    class Meta:
        ordering = ["study", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "model", "method"], name="unique_task_condition")]

    def __str__(self):
        return f"{self.name} ({self.model})" if not self.method else self.name

    @property
    def name(self):
        """The condition as tasks.csv writes it: "none" or e.g. "M2×VG"."""
        return self.spec.name

    @property
    def spec(self):
        return randomization.ConditionSpec(self.model, self.method)


class Outcome(models.TextChoices):
    """Where a participation stands; every value but IN_PROGRESS is an ending."""

    IN_PROGRESS = schema.IN_PROGRESS, "In progress"
    COMPLETED = schema.COMPLETED, "Completed"
    NO_CONSENT = schema.NO_CONSENT, "Did not consent"
    ATTENTION_FAILED = schema.ATTENTION_FAILED, "Failed attention checks"
    EXPIRED = schema.EXPIRED, "Expired: inactive, place given to a newcomer"
    WITHDRAWN = schema.WITHDRAWN, "Withdrew: answers and background deleted"
    ERASED = schema.ERASED, "Erased on request: answers and background deleted"


ENDING_OF_OUTCOME = {
    Outcome.COMPLETED: Ending.COMPLETED,
    Outcome.NO_CONSENT: Ending.NO_CONSENT,
    Outcome.ATTENTION_FAILED: Ending.ATTENTION_FAILED,
    Outcome.EXPIRED: Ending.OVER_QUOTA,
    Outcome.WITHDRAWN: Ending.WITHDRAWN,
    Outcome.ERASED: Ending.WITHDRAWN,
}

INVITE_SOURCE = "invite"
PREVIEW_SOURCE = "preview"
SIMULATED_SOURCE = "simulated"  # a rehearsal's participant (simulate_participants): never sets the study's pace


def answered(trial=""):
    """The trial at lookup path `trial` ("" or e.g. "trials__") has its answer: each kind has its own table."""
    return (Q(**{f"{trial}likert_response__isnull": False}) | Q(**{f"{trial}attention_response__isnull": False})
            | Q(**{f"{trial}choice_response__isnull": False}) | Q(**{f"{trial}task_response__isnull": False}))


def passed_check(trial=""):
    """The attention check at lookup path `trial` was answered as instructed."""
    return Q(**{f"{trial}attention_response__answer": F(f"{trial}attention_target")})


class ParticipantQuerySet(models.QuerySet):
    def with_progress(self):
        """Each participant's tallies, in one query: trials planned (trials_total) and answered (trials_done),
        attention checks planned (attention_total), answered (attention_answered) and passed (attention_passed)."""
        return self.annotate(
            trials_total=Count("trials"),
            trials_done=Count("trials", filter=answered("trials__")),
            attention_total=Count("trials", filter=Q(trials__kind=Trial.Kind.ATTENTION)),
            attention_answered=Count("trials", filter=Q(trials__attention_response__isnull=False)),
            attention_passed=Count("trials", filter=passed_check("trials__")),
        )

    def with_decision(self):
        """Each participant's standing decision (the latest): excluded (None: never decided), exclusion_reason."""
        latest = ExclusionDecision.objects.filter(participant=OuterRef("pk")).order_by("-decided_at", "-id")
        return self.annotate(excluded=Subquery(latest.values("excluded")[:1]),
                             exclusion_reason=Subquery(latest.values("reason")[:1]))

    def failed_checks(self, at_least=1):
        """Participants who answered at least `at_least` attention checks other than instructed."""
        return self.with_progress().filter(attention_answered__gte=F("attention_passed") + at_least)


class Participant(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participant")
    pseudonym = models.CharField(max_length=32, unique=True, help_text="The id that exports carry.")
    invite_token = models.CharField(max_length=64, unique=True)
    seed = models.BigIntegerField(help_text="Seed of this participant's trial order and side-by-side positions.")
    design_index = models.PositiveIntegerField(
        null=True, blank=True, editable=False,
        help_text="Their row of the study's design: 0, 1, ... in order of consent (previews counted apart).")
    consented_at = models.DateTimeField(null=True, blank=True)
    consent_version = models.ForeignKey(ConsentVersion, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="participants", help_text="The text they agreed to.")
    instructions_read_at = models.DateTimeField(null=True, blank=True)
    background_given_at = models.DateTimeField(null=True, blank=True,
                                               help_text="When they answered the background questions.")
    completed_at = models.DateTimeField(null=True, blank=True)
    degree = models.CharField(max_length=32, blank=True)
    cv_experience_years = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(
        max_length=16, default=INVITE_SOURCE,
        help_text="How they came: 'invite' (a personal invite link), 'preview' (a researcher's preview), "
                  "'simulated' (a rehearsal by simulate_participants) or the study link's platform.")
    external_id = models.CharField(max_length=platforms.MAX_ID_LENGTH, blank=True,
                                   help_text="Their platform ID (personal data: only recruitment.csv carries it).")
    external_session = models.CharField(max_length=platforms.MAX_ID_LENGTH, blank=True,
                                        help_text="The platform's attempt: Prolific's SESSION_ID, MTurk's "
                                                  "assignmentId.")
    external_submit_to = models.URLField(blank=True, help_text="MTurk's turkSubmitTo: where the ending form posts.")
    arrived_at = models.DateTimeField(null=True, blank=True, help_text="First opened the study or invite link.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When the outcome was reached.")
    ending_code = models.CharField(
        max_length=64, blank=True, help_text="The code their ending showed them (an expired participant: once they "
                                             "come back and see it; empty until then).")
    # Kept when withdrawal or erasure deletes the plan with the answers, so that the funnel still places them.
    trials_at_deletion = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Pages in their plan when their answers were deleted.")
    rating_pages_at_deletion = models.PositiveIntegerField(
        null=True, blank=True, editable=False,
        help_text="Rating pages (attention checks included) in their plan when their answers were deleted.")
    answered_at_deletion = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Pages they had answered when their answers were deleted.")
    is_preview = models.BooleanField(
        "preview", default=False,
        help_text="A researcher trying the study: holds no place, left out of exports and analyses by default.")
    task_condition = models.ForeignKey(
        TaskCondition, null=True, blank=True, on_delete=models.PROTECT, related_name="participants",
        editable=False, help_text="Their condition in the study's task blocks, assigned evenly in order of consent.")

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], condition=~Q(external_id=""),
                                    name="one_participant_per_platform_id"),
        ]
        indexes = [models.Index(fields=["study", "outcome"], name="participant_study_outcome")]

    def __str__(self):
        return self.pseudonym

    @property
    def ending(self):
        return ENDING_OF_OUTCOME.get(self.outcome)

    @property
    def arrival(self):
        """The platform fields they arrived with (empty for an invite link), as the study link read them."""
        return platforms.Arrival(self.external_id, self.external_session, self.external_submit_to)

    @property
    def can_withdraw(self):
        return self.consented_at is not None and self.outcome not in DELETED_OUTCOMES


class Trial(models.Model):
    """One page of a participant's plan: a rating, an attention check, a side-by-side choice, or a task page.

    A task page (issue 29) names its block, its image, and in `stimulus` the condition's model's map of its
    prediction on the image: the page's facts (the model's prediction and top classes) are that stimulus's. The
    page shows that map only in a map condition (simulation, verification), never in the no-map control; a
    distinction page shows the maps of the top classes in the side-by-side slots, in page order. `options` are the
    answers offered, in the order shown. An attention check inside a task block names the block and looks like its
    pages: its `attention_target` is then the 1-based place of the instructed option in `options`."""

    class Kind(models.TextChoices):
        RATING = "rating", "Rating"
        ATTENTION = "attention", "Attention check"
        CHOICE = "choice", "Side-by-side choice"
        DISTINCTION = schema.DISTINCTION, "Distinction"
        SIMULATION = schema.SIMULATION, "Forward simulation"
        VERIFICATION = schema.VERIFICATION, "Verification"

    class Phase(models.TextChoices):
        NONE = "", "None"
        LEARN = schema.LEARN, "Learning"
        TEST = schema.TEST, "Test"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    position = models.PositiveIntegerField(help_text="1-based page order within the participant's plan.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    block = models.ForeignKey(Block, null=True, blank=True, on_delete=models.PROTECT, related_name="trials",
                              help_text="The block of the page; empty for a study without blocks.")
    phase = models.CharField(max_length=8, choices=Phase.choices, blank=True,
                             help_text="A simulation block's phase: learning or test.")
    options = models.JSONField(default=list, blank=True,
                               help_text="A task page's answer options in the order shown: class names, or "
                                         "accept/reject.")
    stimulus = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_image = models.ForeignKey(SourceImage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A side-by-side page's maps in page order (schema.SIDE_BY_SIDE_SLOTS): Map 1, 2, then 3 and 4 when shown.
    left = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    middle = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    right = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    fourth = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
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
                    | (Q(kind="choice", source_image__isnull=False, left__isnull=False, middle__isnull=False)
                       & (Q(right__isnull=False) | Q(fourth__isnull=True)))
                    | Q(kind__in=schema.TASKS, source_image__isnull=False, stimulus__isnull=False,
                        block__isnull=False)
                ),
                name="trial_kind_has_its_fields",
            ),
        ]

    def __str__(self):
        return f"{self.participant} #{self.position} ({self.kind})"

    @property
    def in_task_block(self):
        """A page of a task block: one of its own, or an attention check that looks like them."""
        return self.block_id is not None and self.block.is_task

    @property
    def map_ids(self):
        """A side-by-side page's stimulus ids in page order (2 to 4)."""
        return [pk for pk in (getattr(self, f"{slot}_id") for slot in SIDE_BY_SIDE_SLOTS) if pk is not None]


def page_hides_field():
    return models.PositiveIntegerField(
        null=True, blank=True, help_text="How often the trial's page was hidden before the answer (Page Visibility "
                                         "API); empty: the page sent no count (no script).")


def likert_field():
    return models.PositiveSmallIntegerField(
        validators=[MinValueValidator(LIKERT_MIN), MaxValueValidator(LIKERT_MAX)]
    )


class LikertResponse(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="likert_response")
    sufficiency = likert_field()
    trust = likert_field()
    rt_ms = models.PositiveIntegerField(help_text="Milliseconds from first showing the page to the answer.")
    page_hides = page_hides_field()
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
    page_hides = page_hides_field()
    answered_at = models.DateTimeField(auto_now_add=True)

    @property
    def passed(self):
        return self.answer == self.trial.attention_target


class ChoiceResponse(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="choice_response")
    chosen = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField(max_length=JUSTIFICATION_MAX_LENGTH)
    rt_ms = models.PositiveIntegerField()
    page_hides = page_hides_field()
    answered_at = models.DateTimeField(auto_now_add=True)


def confidence_field(**options):
    return models.PositiveSmallIntegerField(
        validators=[MinValueValidator(CONFIDENCE_MIN), MaxValueValidator(CONFIDENCE_MAX)], **options)


class TaskResponse(models.Model):
    """The answer to a task page (issue 29): the option chosen and its confidence; a distinction page's second
    question ("Which class is correct?") in the true_class fields. A learning page's answer is its guess, or empty
    where it asks none (the participant only went on)."""

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="task_response")
    answer = models.CharField(max_length=64, blank=True, help_text="The option chosen, as shown.")
    confidence = confidence_field(null=True, blank=True)
    true_class_answer = models.CharField(max_length=64, blank=True)
    true_class_confidence = confidence_field(null=True, blank=True)
    rt_ms = models.PositiveIntegerField(help_text="Milliseconds from first showing the page to the answer.")
    page_hides = page_hides_field()
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=CONFIDENCE_MIN, confidence__lte=CONFIDENCE_MAX),
                name="task_confidence_in_range"),
            models.CheckConstraint(
                condition=Q(true_class_confidence__isnull=True)
                | Q(true_class_confidence__gte=CONFIDENCE_MIN, true_class_confidence__lte=CONFIDENCE_MAX),
                name="task_true_class_confidence_in_range"),
        ]


class ExclusionDecision(models.Model):
    """A researcher's decision to exclude (or include again) a participant, with its reason; never edited.

    The latest decision stands; flags never decide by themselves."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="decisions")
    excluded = models.BooleanField()
    reason = models.CharField(max_length=300)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_by_name = models.CharField(max_length=150, help_text="The researcher's username when they decided.")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "-decided_at", "-id"]
        indexes = [models.Index(fields=["participant", "-decided_at"], name="decision_latest")]

    def __str__(self):
        return f"{self.participant}: {'excluded' if self.excluded else 'included'} ({self.reason})"


class Role(models.TextChoices):
    """A member's role on a study; what each may do is studyapp.access's ROLE_PERMISSIONS."""

    OWNER = "owner", "Owner: everything, including erasure, members and the access log"
    EDITOR = "editor", "Editor: design and recruitment settings, preview; no participant data"
    ANALYST = "analyst", "Analyst: the console, decisions, the export (review file included) and the report"
    VIEWER = "viewer", "Viewer: the console's counts only"


class Membership(models.Model):
    """A researcher's role on one study. Staff users see only the studies they are members of (superusers: all)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "user__username"]
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="one_role_per_member")]

    def __str__(self):
        return f"{self.user.get_username()}: {self.role} of {self.study.slug}"


class ApiToken(models.Model):
    """A personal token for scripted access to one study, with a role no wider than its user's own there.

    Only the SHA-256 digest of the token is kept (the token itself is shown once, when it is made); `prefix` is its
    visible start, to tell tokens apart. Tokens expire, and are revoked rather than deleted (the access log names
    them)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="api_tokens")
    role = models.CharField(max_length=16, choices=Role.choices,
                            help_text="What the token may do, within its user's own role on the study.")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. 'nightly export to the lab drive'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False,
                              help_text="The token's visible start, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.name})"


class ConsoleEvent(models.Model):
    """An access to a study's participant data, or a staff act on it, kept with who and when: the console's and the
    admin's views of participants and answers, downloads of the export and the report, interim results, exclusion
    decisions, erasures, and the API's exports (with the token used)."""

    class Via(models.TextChoices):
        CONSOLE = "console", "Console"
        ADMIN = "admin", "Admin"
        API = "api", "API token"
        COMMAND = "command", "Command"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="console_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.CONSOLE)
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="uses")
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["study", "user", "action", "-at"], name="console_event_latest")]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
