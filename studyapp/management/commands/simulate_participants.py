"""`manage.py simulate_participants --study S --count 65 --seed 0 [--means N=2.5,A=3,M2=3.5] ...`

Rehearses a study: enrols `count` participants and plays each through the real survey pages
(studyapp/rehearsal.py) with answers from per-model, per-method or per-cell distributions (studyapp/simulation.py);
task pages right with each task condition's chance (`--accuracy none=0.55,N×VG=0.7`, plan_study's --task-accuracy
form), or at random.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studyapp.management.studies import study_by_slug
from studyapp.rehearsal import Rehearsal, RehearsalError, default_host
from studyapp.schema import NO_MAP_CONDITION, condition_name
from studyapp.simulation import DEFAULT_MEAN, AnswerModel, parse_cell_values, parse_model_values, parse_task_accuracy


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
        parser.add_argument("--method-effects", default="",
                            help="Added to the model's mean per method, e.g. VG=0,IG=0.4,SG=0.8 (others: 0).")
        parser.add_argument("--cell-means", default="",
                            help="Mean rating per model x method cell, e.g. N:VG=2.1,N:IG=2.4,M2:IG=3.6; a cell "
                                 "given here takes this mean instead of its model's mean plus its method's effect.")
        parser.add_argument("--sd", type=float, default=1.0, help="Standard deviation of the ratings (default 1).")
        parser.add_argument("--choice-weights", default="",
                            help="Side-by-side choice weight per model or cell, e.g. N=1,A=2,M2=4 or N:VG=1,N:IG=3 "
                                 "(a cell's weight before its model's; others: 1); a shown map is picked with "
                                 "probability proportional to its weight.")
        parser.add_argument("--attention-failure-rate", type=float, default=0.0,
                            help="Share of attention checks answered wrongly (default 0).")
        parser.add_argument("--accuracy", default="",
                            help="Task pages: the chance of a right answer per task condition, as plan_study's "
                                 "--task-accuracy takes it, e.g. none=0.55,N×VG=0.7 (a control of each of several "
                                 "models: N×none=0.55,A×none=0.5,...); a wrong answer is one of the other options at "
                                 "random. Conditions not given answer at random among the options shown.")
        parser.add_argument("--host", default=None, help="Host name the requests use (default: from ALLOWED_HOSTS).")

    def handle(self, *, study, count, seed, means, method_effects, cell_means, sd, choice_weights,
               attention_failure_rate, accuracy, host, **options):
        if count < 1:
            raise CommandError(f"--count must be at least 1, got {count}.")
        study = study_by_slug(study)
        try:
            answers = AnswerModel(
                rating_means=parse_model_values(means, "--means"), rating_sd=sd,
                method_effects=parse_model_values(method_effects, "--method-effects", "method"),
                cell_means=parse_cell_values(cell_means, "--cell-means"),
                choice_weights=parse_cell_values(choice_weights, "--choice-weights", models_too=True),
                attention_failure_rate=attention_failure_rate,
                task_accuracy=parse_task_accuracy(accuracy) if accuracy else {},
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        cells = sorted(set(study.stimuli.values_list("variant", "method")))
        if not cells:
            raise CommandError(f"Study {study.slug!r} has no stimuli; add some in the admin first.")
        check_names(study, cells, answers)
        check_conditions(study, answers)
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
            f"{tally.choices} choices, {tally.attention_checks} attention checks ({tally.attention_failed} failed)"
            + (f", {tally.task_answers} task answers ({tally.task_right} right)." if tally.task_answers else ".")
        )


def check_names(study, cells, answers):
    """CommandError when an option names a model, method or cell that the study's stimuli do not have."""
    models, methods = sorted({model for model, _ in cells}), sorted({method for _, method in cells})
    given = {"--means": ("model", answers.rating_means, models),
             "--method-effects": ("method", answers.method_effects, methods),
             "--cell-means": ("cell", answers.cell_means, cells),
             "--choice-weights": ("model or cell", answers.choice_weights, [*models, *cells])}
    for option, (what, values, known) in given.items():
        unknown = [name for name in values if name not in known]
        if unknown:
            names = ", ".join(":".join(name) if isinstance(name, tuple) else name for name in unknown)
            raise CommandError(f"{option} names {what}(s) {names}, which study {study.slug!r} does not have; its "
                               f"models are {', '.join(models)}, its methods {', '.join(methods)} and its cells "
                               f"{', '.join(':'.join(cell) for cell in cells)}.")


def check_conditions(study, answers):
    """CommandError when --accuracy names a task condition the study does not have."""
    conditions = list(study.task_conditions.values_list("model", "method"))
    unknown = [cell for cell in answers.task_accuracy if cell not in conditions]
    if unknown:
        def name(model, method):
            return condition_name(model, method) if method else f"{model}×{NO_MAP_CONDITION}"

        known = ", ".join(name(*cell) for cell in conditions) or "none (it has no task conditions)"
        raise CommandError(f"--accuracy names condition(s) {', '.join(name(*cell) for cell in unknown)}, which study "
                           f"{study.slug!r} does not have; its task conditions are {known}.")
