"""Is a study ready to launch: settings that conflict with its platform's rules, and how long it is.

The hard requirements (what would stop participants, how completers are credited: studyapp.opening) are model
validation (Study.clean), so that nothing can open without them; what is here are warnings the admin shows beside
a study, because a researcher may have reasons (and the platform the last word). The estimated duration is a guide to what the
researcher declares on Prolific (the study's `declared_minutes`, which Prolific's attention rule reads).
"""

import statistics
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import Coalesce

from saliency.models import SourceImage

from . import platforms, randomization, schema
from .models import PAGES_BEFORE_TRIALS, SIMULATED_SOURCE, AttentionFailureEnding, Outcome, Participant
from .schema import image_id


def rule_conflicts(study):
    """Warnings, one sentence each, about settings that conflict with the study's platform or with each other."""
    conflicts = uncompared_warning(study) + block_warnings(study) if study.pk else []
    policy = study.attention_failure_ending
    if policy and not study.attention_checks:
        conflicts.append("The study ends participations on failed attention checks but has none: the failed-"
                         "attention ending never happens. Turn attention checks on, or the ending off.")
    if study.recruitment_source == platforms.PROLIFIC:
        if policy == AttentionFailureEnding.EARLY:
            conflicts.append("Prolific lets you reject a submission only after the second failed attention check, "
                             "and 'At once' ends it after the first: choose 'At the second failed check'.")
        if policy and study.attention_failed_code and study.attention_failed_code == study.completion_code:
            conflicts.append("The failed-attention code is the completion code: on Prolific you could not tell "
                             "who failed the checks. Give it a code of its own ('Manually review').")
        if policy and not (study.attention_failed_code or study.attention_failed_redirect_url):
            conflicts.append("Participants who fail the attention checks get no code to hand in on Prolific, so "
                             "they must return the study: set a failed-attention code ('Manually review').")
    return conflicts


# Real completions the estimated duration needs before it replaces the stated seconds per page: fewer say little
# about a study's pace (one quick preview once moved an estimate from 9 to 3 minutes).
ESTIMATE_MIN_COMPLETIONS = 5


def block_warnings(study):
    """Task conditions that no task block uses: participants are assigned to them and see no task page."""
    kinds = set(study.blocks.values_list("kind", flat=True))
    if study.task_conditions.exists() and not kinds & set(schema.TASKS):
        return ["The study has task conditions but no task block (distinction, simulation or verification): "
                "participants are assigned to the conditions and never see a task page. Add a task block, or delete "
                "the conditions."]
    return []


def uncompared_warning(study):
    """Images that get no side-by-side page (their maps that differ in the compared factor number 1 or over 4); a
    study with blocks but no choice block has none to miss."""
    if study.comparison_count == 0:
        return []
    kinds = set(study.blocks.values_list("kind", flat=True))
    if kinds and schema.CHOICE_BLOCK not in kinds:
        return []
    left_out = randomization.uncompared_images(study.stimulus_refs(), study.comparison)
    if not left_out:
        return []
    names = {pk: image_id(dataset, index, pk) for pk, dataset, index in SourceImage.objects.filter(
        pk__in=list(left_out)[:3]).values_list("pk", "dataset", "test_index")}
    examples = ", ".join(f"{names[pk]}: {' and '.join(map(str, sizes))}" for pk, sizes in list(left_out.items())[:3])
    factor = "models under one method" if study.comparison == randomization.COMPARE_MODELS else "methods for one model"
    return [f"{len(left_out)} image(s) get no side-by-side page: a page shows {randomization.MIN_MAPS} to "
            f"{randomization.MAX_MAPS} maps of one image that differ only in what it compares ({factor}), and these "
            f"have another number ({examples}{', ...' if len(left_out) > 3 else ''}). Change the stimuli or what "
            "side-by-side pages compare, or set the comparison count to 0 if the study has none."]


@dataclass(frozen=True)
class Length:
    """How long the study is for each participant, and how long that should take."""

    trials: int
    seconds: int  # estimated duration
    timed: int  # real completions found (the estimate rests on them once there are ESTIMATE_MIN_COMPLETIONS)
    seconds_per_page: int  # the study's stated guess, used until then
    feedback: int = 0  # a learning guess's feedback pages (task blocks)

    @property
    def pages(self):
        return self.trials + PAGES_BEFORE_TRIALS + self.feedback

    @property
    def minutes(self):
        return max(1, round(self.seconds / 60))

    @property
    def from_real_times(self):
        return self.timed >= ESTIMATE_MIN_COMPLETIONS

    def __str__(self):
        if self.from_real_times:
            basis = f"median pace of {self.timed} real completions"
        else:
            basis = (f"stated {self.seconds_per_page} s per page; {self.timed} of the {ESTIMATE_MIN_COMPLETIONS} "
                     "real pilot completions the estimate needs")
        feedback = f" + {self.feedback} feedback pages" if self.feedback else ""
        return f"{self.trials} trials + {PAGES_BEFORE_TRIALS} pages{feedback}; about {self.minutes} min ({basis})"


def real_paces(study):
    """Seconds per page of the real completions that time this study: its pilot copies' participants and its own.

    Researchers' previews and rehearsals (simulate_participants) never set the pace: a preview is clicked through
    to see the pages, and a rehearsal's times are the server's.
    """
    timed = Participant.objects.filter(
        Q(study=study) | Q(study__copied_from=study), outcome=Outcome.COMPLETED, completed_at__isnull=False,
        is_preview=False,
    ).exclude(source=SIMULATED_SOURCE).annotate(
        began=Coalesce("arrived_at", "consented_at"), planned=Count("trials"),
        feedback=Count("trials", filter=Q(trials__phase=schema.LEARN, trials__block__learning_guess=True)),
    ).values_list("began", "completed_at", "planned", "feedback")
    return [(done - began).total_seconds() / (planned + PAGES_BEFORE_TRIALS + feedback)
            for began, done, planned, feedback in timed if began is not None and done > began]


def study_length(study):
    """The pages each participant gets and the estimated duration: from real completions once there are enough."""
    trials, beside = study.plan_size()
    paces = real_paces(study)
    pace = statistics.median(paces) if len(paces) >= ESTIMATE_MIN_COMPLETIONS else study.seconds_per_page
    return Length(trials, round(pace * (trials + beside)), len(paces), study.seconds_per_page,
                  feedback=beside - PAGES_BEFORE_TRIALS)
