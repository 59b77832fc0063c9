"""A participant's standing in the survey, and the writes that move it on: the start of the study, the answers.

The domain side of the survey views (studyapp/views.py speaks HTTP and nothing else).
"""

import logging

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import flow, participation, randomization, schema
from .models import AttentionCheck, ChoiceResponse, LikertResponse, Outcome, Participant, Study, TaskResponse, Trial

logger = logging.getLogger("studyapp")


class SurveyState:
    """A participant's stored standing, read in one query per request.

    The query puts unanswered trials first, in plan order, and counts every trial and the answered
    ones over the whole plan: its first row is the current trial, its second the one after it.
    """

    def __init__(self, participant):
        self.participant = participant
        self.study = participant.study
        trials = list(plan_with_counts(participant)) if participant.consented_at else []
        unanswered = [t for t in trials if not t.answered]
        self.trial = unanswered[0] if unanswered else None
        self.next_trial = unanswered[1] if len(unanswered) > 1 else None
        self.standing = flow.Standing(
            consented=participant.consented_at is not None,
            instructions_read=participant.instructions_read_at is not None,
            background_given=participant.cv_experience_years is not None and bool(participant.degree),
            answered=trials[0].answered_count if trials else 0,
            planned=trials[0].planned if trials else 0,
            first_unanswered=self.trial.position if self.trial else None,
            ended=participant.outcome != Outcome.IN_PROGRESS,
        )
        self.page = flow.current_page(self.standing)

    def progress(self):
        return flow.progress(self.standing, 0 if self.standing.consented else self.study.plan_length())

    def after_answering(self, failed_check=False):
        """The page that follows once the current trial is answered; records the ending when there is one."""
        if failed_check and participation.end_on_failed_check(self.participant):
            return flow.Page(flow.COMPLETE)
        if self.next_trial is not None:
            return flow.Page(flow.TRIAL, self.next_trial.position)
        participation.finish(self.participant)
        return flow.Page(flow.COMPLETE)


def plan_with_counts(participant):
    """The participant's trials, unanswered first in plan order, each row with the plan's counts.

    A trial is answered when the answer of its own kind is stored (each kind has its own table).
    Raw SQL: this query runs on every survey request, and building it with the ORM cost more CPU
    than everything else the request did (benchmarks/load.py).
    """
    tables = {model.__name__: connection.ops.quote_name(model._meta.db_table)
              for model in (Trial, LikertResponse, AttentionCheck, ChoiceResponse, TaskResponse)}
    answered = "(likert.id IS NOT NULL OR attention.id IS NOT NULL OR choice.id IS NOT NULL OR task.id IS NOT NULL)"
    return Trial.objects.raw(
        f"""SELECT trial.*, {answered} AS answered, COUNT(*) OVER () AS planned,
                   SUM(CASE WHEN {answered} THEN 1 ELSE 0 END) OVER () AS answered_count
            FROM {tables["Trial"]} trial
            LEFT JOIN {tables["LikertResponse"]} likert ON likert.trial_id = trial.id AND trial.kind = %s
            LEFT JOIN {tables["AttentionCheck"]} attention ON attention.trial_id = trial.id AND trial.kind = %s
            LEFT JOIN {tables["ChoiceResponse"]} choice ON choice.trial_id = trial.id AND trial.kind = %s
            LEFT JOIN {tables["TaskResponse"]} task ON task.trial_id = trial.id AND trial.kind IN (%s, %s, %s)
            WHERE trial.participant_id = %s
            ORDER BY answered, trial.position
            LIMIT 2""",
        [Trial.Kind.RATING, Trial.Kind.ATTENTION, Trial.Kind.CHOICE, *schema.TASKS, participant.pk],
    )


def start_study(participant, consent_version):
    """Consent to `consent_version`: draw the plan from the participant's seed and store it, once, in one
    transaction."""
    try:
        with transaction.atomic():
            locked = Participant.objects.select_for_update().get(pk=participant.pk)
            if locked.consented_at is not None:
                return
            study = participant.study
            # The study row's lock orders simultaneous plan starts, so each enrolment index is taken once.
            Study.objects.select_for_update().only("pk").get(pk=study.pk)
            index = Participant.objects.filter(study=study, is_preview=locked.is_preview,
                                               design_index__isnull=False).count()
            # Task conditions in turn by the same index (in TaskCondition order): even whatever the count.
            blocks = list(study.blocks.all())
            conditions = list(study.task_conditions.all()) if blocks else []
            condition = conditions[index % len(conditions)] if conditions else None
            tasks = study.task_setup(blocks=blocks)
            plan = randomization.draw_plan(
                study.stimulus_refs(), locked.seed,
                comparison_count=study.comparison_count,
                attention_checks=study.attention_checks,
                design=study.design(index),
                tasks=tasks, condition=condition.spec if condition else None,
            )
            block_ids = {block.position: block.pk for block in blocks}
            Trial.objects.bulk_create(
                Trial(participant=locked, position=position, kind=t.kind, stimulus_id=t.stimulus,
                      source_image_id=t.source_image, left_id=t.left, middle_id=t.middle, right_id=t.right,
                      fourth_id=t.fourth, attention_target=t.attention_target, block_id=block_ids.get(t.block),
                      phase=t.phase, options=list(t.options))
                for position, t in enumerate(plan, start=1)
            )
            locked.consented_at, locked.consent_version = timezone.now(), consent_version
            locked.design_index, locked.task_condition = index, condition
            locked.save(update_fields=["consented_at", "consent_version", "design_index", "task_condition"])
    except IntegrityError:
        logger.info("Participant %s consented twice at once; the first plan stands", participant.pseudonym)


def store_answer(trial, data, rt_ms):
    """Store the answer of its kind, with the page's hidden count (None when the page sent none: no script)."""
    hides = data.get("page_hides")
    if trial.kind == Trial.Kind.RATING:
        LikertResponse.objects.create(trial=trial, sufficiency=data["sufficiency"], trust=data["trust"], rt_ms=rt_ms,
                                      page_hides=hides)
    elif trial.kind == Trial.Kind.ATTENTION:
        AttentionCheck.objects.create(trial=trial, answer=data["answer"], rt_ms=rt_ms, page_hides=hides)
    elif trial.kind in schema.TASKS:  # a learning page without a guess stores an empty answer: the participant went on
        TaskResponse.objects.create(
            trial=trial, answer=data.get("answer", ""), confidence=data.get("confidence"),
            true_class_answer=data.get("true_class", ""), true_class_confidence=data.get("true_class_confidence"),
            rt_ms=rt_ms, page_hides=hides)
    else:
        chosen = getattr(trial, f"{data['choice']}_id")  # the form allows only left/middle/right
        ChoiceResponse.objects.create(trial=trial, chosen_id=chosen, justification=data["justification"], rt_ms=rt_ms,
                                      page_hides=hides)
