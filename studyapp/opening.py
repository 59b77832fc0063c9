"""Whether a study may open: one list of checks, each naming what would stop participants, run wherever a study opens.

A study that saves but fails at a participant's first page (a 503 at consent for everyone) is worse than one that
refuses to open: so every way of opening a study (the admin's form and `full_clean()` through Study.clean, the
console's open switch, `create_demo_study`) runs `problems`, and an open study with a problem is not saved.

Each check is a function `(study, stimuli, tasks) -> [(field or None, message)]`: `study` holds the settings about to
be saved (not necessarily stored yet), `stimuli` the StimulusRefs the study will have (the admin's form passes the
ones being saved), `tasks` its randomization.TaskSetup (blocks, task conditions, the stimuli of task pages). A new
kind of page (a block type) adds its own check to `CHECKS`; the plan's dry run below already covers every page a
plan draws. Pure Python: no Django import.
"""

from . import platforms, randomization

PLAN_PROBLEM = "Participants could not start this study: {error}"


def credit(study, stimuli, tasks):
    """An open study recruiting on a platform that credits people must say how completers are credited."""
    url = study.completion_redirect_url
    if url and platforms.placeholder_problem(url):
        return []  # the URL field's own validator reports it
    problem = platforms.credit_problem(study.recruitment_source, study.completion_code, url)
    if problem:
        return [("completion_code", f"{problem} Set it before the study opens, or leave the study closed until "
                                    "then.")]
    return []


def declared_duration(study, stimuli, tasks):
    """Prolific's attention rule reads the duration declared on Prolific: an open Prolific study must state it."""
    if study.recruitment_source == platforms.PROLIFIC and study.declared_minutes is None:
        return [("declared_minutes", "Enter the duration you declare on Prolific (its estimated completion time, "
                                     "in minutes): Prolific allows a rejection for two failed checks only in studies "
                                     "of 5 minutes or more, and the review file reads it. The estimated duration "
                                     "shown on this page is a guide.")]
    return []


def task_blocks(study, stimuli, tasks):
    """Task blocks need task conditions; each condition needs its model's maps (by its method); each task block
    needs, under every condition, the images its pages ask for (randomization.screen_images' rule, the planner's)."""
    if not tasks.task_blocks:
        return []
    if not tasks.conditions:
        return [(None, randomization.block_problem(tasks.task_blocks[0], None, None))]
    found = []
    for condition in tasks.conditions:
        maps = [ref for ref in tasks.stimuli if ref.variant == condition.model and ref.target_rank == 1
                and (ref.method == condition.method or not condition.shows_maps)]
        if not maps:
            by = f" by {condition.method}" if condition.shows_maps else ""
            found.append((None, f"Task condition {condition} needs the study's maps of model {condition.model}"
                                f"{by}, and the study has none: add those stimuli, or change the condition."))
            continue
        for block in tasks.task_blocks:
            problem = randomization.block_problem(
                block, condition, randomization.screen_images(block, condition, tasks.stimuli))
            if problem:
                found.append((None, problem))
    return found


def dry_run_count(stimuli, tasks):
    """How many first participants the dry run plans: one per condition, so that every row of a balanced
    incomplete design and every task condition is drawn once (at least one)."""
    return max(1, len(randomization.conditions(stimuli)), len(tasks.conditions))


def plan(study, stimuli, tasks):
    """Draw the plans of the study's first participants exactly as their consent will, and report the first that
    cannot be drawn (no stimuli, too few side-by-side pages for the comparison count, a design missing a cell)."""
    if study.seed is None or task_blocks(study, stimuli, tasks):
        return []  # the seed field reports itself; task_blocks says what the task blocks lack
    for index in range(dry_run_count(stimuli, tasks)):
        try:
            randomization.draw_plan(stimuli, randomization.participant_seed(study.seed, index),
                                    comparison_count=study.comparison_count,
                                    attention_checks=study.attention_checks, design=study.design(index),
                                    tasks=tasks, condition=tasks.condition(index))
        except ValueError as error:
            return [(None, PLAN_PROBLEM.format(error=error))]
    return []


CHECKS = (credit, declared_duration, task_blocks, plan)


def problems(study, stimuli, tasks=randomization.TaskSetup()):
    """Every check's problems for opening `study` with `stimuli` and `tasks`: [(field or None, message)]; [] when it
    may open."""
    return [problem for check in CHECKS for problem in check(study, stimuli, tasks)]
