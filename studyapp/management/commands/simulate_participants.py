"""`manage.py simulate_participants --study S --count 65 --seed 0 [--means N=2.5,A=3,M2=3.5] ...`

Rehearses a study: enrols `count` participants and plays each through the real survey pages
(studyapp/rehearsal.py) with answers from per-model distributions (studyapp/simulation.py).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from saliency.models import Variant
from studyapp.management.studies import study_by_slug
from studyapp.rehearsal import Rehearsal, RehearsalError, default_host
from studyapp.simulation import DEFAULT_MEAN, AnswerModel, parse_model_values


class Command(BaseCommand):
    help = ("Rehearse a study: create COUNT participants and play each through the real survey pages, "
            "answering from per-model distributions. Seeded: the same seed on the same study state gives "
            "the same answers.")

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--count", required=True, type=int, help="Participants to simulate (>= 1).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the simulated answers (default 0).")
        parser.add_argument("--means", default="",
                            help=f"Mean rating per model, e.g. N=2.5,A=3.0,M2=3.5 (others: {DEFAULT_MEAN}). "
                                 "Each answer is a normal draw around it, rounded and clipped to 1-5.")
        parser.add_argument("--sd", type=float, default=1.0, help="Standard deviation of the ratings (default 1).")
        parser.add_argument("--choice-weights", default="",
                            help="Side-by-side choice weight per model, e.g. N=1,A=2,M2=4 (others: 1); "
                                 "a shown map is picked with probability proportional to its weight.")
        parser.add_argument("--attention-failure-rate", type=float, default=0.0,
                            help="Share of attention checks answered wrongly (default 0).")
        parser.add_argument("--host", default=None, help="Host name the requests use (default: from ALLOWED_HOSTS).")

    def handle(self, *, study, count, seed, means, sd, choice_weights, attention_failure_rate, host, **options):
        if count < 1:
            raise CommandError(f"--count must be at least 1, got {count}.")
        study = study_by_slug(study)
        try:
            answers = AnswerModel(
                rating_means=parse_model_values(means, "--means"), rating_sd=sd,
                choice_weights=parse_model_values(choice_weights, "--choice-weights"),
                attention_failure_rate=attention_failure_rate,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        present = sorted(set(study.stimuli.values_list("variant", flat=True)))
        if not present:
            raise CommandError(f"Study {study.slug!r} has no stimuli; add some in the admin first.")
        for option, values in (("--means", answers.rating_means), ("--choice-weights", answers.choice_weights)):
            unknown = sorted(set(values) - set(present))
            if unknown:
                known = ", ".join(code for code in Variant.values if code in present)
                raise CommandError(f"{option} names {', '.join(unknown)}, which study {study.slug!r} does not "
                                   f"have; its models are {known}.")
        rehearsal = Rehearsal(study, answers, seed=seed, host=host or default_host(),
                              secure=settings.SECURE_SSL_REDIRECT)
        try:
            participants = rehearsal.run(count)
        except RehearsalError as error:
            raise CommandError(f"Rehearsal stopped, nothing was kept: {error}") from None
        tally = rehearsal.tally
        self.stdout.write(
            f"Simulated {tally.completed} of {count} participants of {study.slug!r} to completion "
            f"({participants[0].pseudonym}..{participants[-1].pseudonym}): {tally.ratings} ratings, "
            f"{tally.choices} choices, {tally.attention_checks} attention checks ({tally.attention_failed} failed)."
        )
