"""Is a study ready to launch: settings that conflict with its platform's rules.

The hard requirement (how completers are credited) is model validation (Study.clean), so that
nothing can open without it; what is here are warnings the admin shows beside a study, because a
researcher may have reasons (and the platform the last word).
"""

from . import platforms
from .models import AttentionFailureEnding


def rule_conflicts(study):
    """Warnings, one sentence each, about settings that conflict with the study's platform or with each other."""
    conflicts = []
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
