"""Data-quality flags by stated rules: pure functions over a participant's timings and answers (no Django).

A flag is a rule's verdict on a participant's data; it never excludes anyone by itself (an exclusion is the
researcher's decision, with its reason: studyapp.models.ExclusionDecision). Every threshold comes from the study
(`Thresholds`, built from the Study's fields by `studyapp.console_data`); the defaults are here.

The rules (docs/how-to/monitor-review-exclude.md and the codebook say the same):

- speeder: a completed participant whose total time (consent to completion) is more than `speeder_sd` (3)
  robust standard deviations below the median, on the log scale: under median x exp(-3 x Qn) of the completed
  participants' times, Qn being the robust standard deviation of their log times (Rousseeuw and Croux's Qn,
  statsmodels.robust.scale.qn_scale, with its small-sample correction). Judged once at least
  `speeder_min_completions` participants have completed (before that the flag is empty: "not judged yet (n of N
  completions)"); only completed participants are judged.
  Why this rule and not mean - 3 SD of the times: judged against a mean and SD that include their own time, a
  participant can lie at most (n - 1) / sqrt(n) SD below the mean (2.85 at n = 10), so that rule cannot fire at the
  completions a pilot is judged at, however fast the speeder. Leaving the judged one out fixes that but not two
  more faults of raw seconds: completion times are right-skewed, and once their SD exceeds a third of their mean
  (common) mean - 3 SD is below zero and flags nobody; and two speeders raise the SD so that neither is flagged.
  The median and Qn stand up to speeders (up to half of the completions), and log time makes the rule about
  ratios: "more than 3 robust SDs faster than the typical participant". Qn rather than the better-known MAD:
  at 10 completions the MAD is biased low and noisy, and flags an honest person in about 11 % of pilots of ten
  honest people, Qn in about 1 % (benchmarks/speeder_rule.py measures the rules on simulated pilots).
- fast_pages: the number of answered pages answered faster than `page_floor_ms` milliseconds. Shown, never
  alone grounds for rejection.
- straight_lining: on either statement, the most frequent answer takes at least `straightlining_share` of the
  participant's ratings, or the answers to a statement do not vary at all; judged only from
  `straightlining_min_ratings` ratings on.
- attention_failed: failed attention checks (answered other than instructed), counting only checks reached.
  A rejection for them needs more than one failed check (`ATTENTION_FAILURES_TO_REJECT`) in a study of at
  least `PROLIFIC_MIN_MINUTES` minutes (Prolific's rule), the minutes being the duration the researcher declared
  on the platform (the study's `declared_minutes`), never an estimate that moves; without a declared duration no
  failed check is rejectable.
- page_hides: how often the participant's survey pages were hidden (tab switched, window minimised), summed
  over the pages that reported a count; empty when no page could count (no script).

Rejectable (the platform review file): speeder, and failed attention checks as Prolific allows; never
fast pages, straight-lining or page hides alone.
"""

import math
import statistics
from dataclasses import dataclass, field

ATTENTION_FAILURES_TO_REJECT = 2  # Prolific: more than one failed check
PROLIFIC_MIN_MINUTES = 5  # ... in a study of 5 minutes or more

SPEEDER = "speeder"
ATTENTION = "attention_failed"
STRAIGHT_LINING = "straight_lining"
FAST_PAGES = "fast_pages"
PAGE_HIDES = "page_hides"
FLAG_NAMES = (SPEEDER, FAST_PAGES, STRAIGHT_LINING, ATTENTION, PAGE_HIDES)
MIN_COMPLETIONS_TO_JUDGE = 3  # a median and a spread around it need three
SHORTEST_SECONDS = 0.001  # a total time of 0 s (clock resolution) counts as 1 ms on the log scale


@dataclass(frozen=True)
class Thresholds:
    speeder_sd: float = 3.0
    speeder_min_completions: int = 10
    page_floor_ms: int = 1000
    straightlining_share: float = 0.9
    straightlining_min_ratings: int = 5

    def __post_init__(self):
        if self.speeder_sd <= 0:
            raise ValueError("speeder_sd must be positive.")
        if self.speeder_min_completions < MIN_COMPLETIONS_TO_JUDGE:
            raise ValueError(f"speeder_min_completions must be at least {MIN_COMPLETIONS_TO_JUDGE} (a median and "
                             "the spread around it).")
        if not 0 < self.straightlining_share <= 1:
            raise ValueError("straightlining_share must be in (0, 1].")
        if self.page_floor_ms < 0 or self.straightlining_min_ratings < 2:
            raise ValueError("page_floor_ms must be >= 0 and straightlining_min_ratings >= 2.")


@dataclass(frozen=True)
class Record:
    """What the rules read of one participant."""

    participant: str
    completed: bool = False
    total_seconds: float | None = None  # consent to completion; None unless completed
    page_ms: tuple = ()  # response time of every answered page
    ratings: tuple = ()  # (sufficiency, trust) of every rating
    attention_answered: int = 0
    attention_passed: int = 0
    page_hides: tuple = ()  # per answered page: the hidden count, or None where the page sent none


@dataclass(frozen=True)
class Flags:
    participant: str
    speeder: bool | None  # None: not judged (not completed, or too few completions yet)
    total_seconds: float | None
    speeder_cutoff_seconds: float | None  # median x exp(-k Qn) of the completed participants' times
    fast_pages: int
    straight_lining: bool | None  # None: too few ratings to judge
    straightlining_share: float | None  # the largest share of one answer on one statement
    attention_failed: int
    attention_answered: int
    attention_rejectable: bool
    page_hides: int | None
    reasons: tuple = field(default=())  # (flag name, reason text) of every raised flag
    speeder_pending: str = ""  # a completed participant not judged yet, and why: 'not judged yet (4 of 10 ...)'

    @property
    def flagged(self):
        return bool(self.reasons)

    @property
    def rejectable_reasons(self):
        """The reasons a platform allows rejecting for (speeder; failed attention checks by Prolific's rule)."""
        return tuple(text for name, text in self.reasons if name in (SPEEDER, ATTENTION)
                     and (name != ATTENTION or self.attention_rejectable))


def speeder_cutoff(completed_seconds, thresholds=Thresholds()):
    """median x exp(-k Qn) of the completed participants' total times (median and Qn of their log times); None with
    fewer than the minimum completions, or when the times have no spread (Qn 0: most of them equal)."""
    from statsmodels.robust.scale import qn_scale  # here, not at import: the survey server never needs it

    times = [t for t in completed_seconds if t is not None]
    if len(times) < thresholds.speeder_min_completions:
        return None
    logs = [math.log(max(t, SHORTEST_SECONDS)) for t in times]
    spread = float(qn_scale(logs))
    if not spread > 0:
        return None
    return math.exp(statistics.median(logs) - thresholds.speeder_sd * spread)


def speeder_pending(completions, cutoff, thresholds=Thresholds()):
    """Why a completed participant is not judged (None cutoff): too few completions, or no spread."""
    if cutoff is not None:
        return ""
    if completions < thresholds.speeder_min_completions:
        return f"not judged yet ({completions} of {thresholds.speeder_min_completions} completions)"
    return f"not judged: the {completions} completion times hardly differ (most are equal)"


def largest_share(answers):
    """The share of the most frequent answer (0 for none)."""
    if not answers:
        return 0.0
    return max(answers.count(a) for a in set(answers)) / len(answers)


def straight_lining(ratings, thresholds=Thresholds()):
    """(flag, share): the same answer on a statement for at least the set share of ratings, or no variance."""
    if len(ratings) < thresholds.straightlining_min_ratings:
        return None, None
    statements = list(zip(*ratings))
    share = max(largest_share(list(answers)) for answers in statements)
    no_variance = any(len(set(answers)) == 1 for answers in statements)
    return (share >= thresholds.straightlining_share or no_variance), share


def attention_rejectable(failed, study_minutes):
    """Prolific: a rejection for failed attention checks needs more than one failed check in a study of 5 min+."""
    return failed >= ATTENTION_FAILURES_TO_REJECT and study_minutes is not None and study_minutes >= PROLIFIC_MIN_MINUTES


def flag(record, cutoff, thresholds=Thresholds(), study_minutes=None, pending=""):
    """A participant's flags; `cutoff` from speeder_cutoff over the study's completed participants (None: not judged,
    `pending` says why), `study_minutes` the duration declared on the platform."""
    speeder = None
    if record.completed and record.total_seconds is not None and cutoff is not None:
        speeder = record.total_seconds < cutoff
    fast = sum(1 for ms in record.page_ms if ms is not None and ms < thresholds.page_floor_ms)
    lined, share = straight_lining(record.ratings, thresholds)
    failed = record.attention_answered - record.attention_passed
    counted = [h for h in record.page_hides if h is not None]
    hides = sum(counted) if counted else None
    rejectable = attention_rejectable(failed, study_minutes)
    reasons = []
    if speeder:
        reasons.append((SPEEDER, f"speeder: total time {record.total_seconds:.1f} s under the cutoff {cutoff:.1f} s "
                                 f"(the completed participants' median time over exp({thresholds.speeder_sd:g} robust "
                                 "SD of log time))"))
    if fast:
        reasons.append((FAST_PAGES, f"{fast} page(s) answered in under {thresholds.page_floor_ms} ms"))
    if lined:
        reasons.append((STRAIGHT_LINING, f"straight-lining: one answer on a statement in {share:.0%} of "
                                         f"{len(record.ratings)} ratings"))
    if failed:
        reasons.append((ATTENTION, f"failed {failed} of {record.attention_answered} attention checks reached"))
    if hides:
        reasons.append((PAGE_HIDES, f"left the page {hides} time(s)"))
    return Flags(record.participant, speeder, record.total_seconds, cutoff, fast, lined, share, failed,
                 record.attention_answered, rejectable, hides, tuple(reasons),
                 pending if record.completed and record.total_seconds is not None and speeder is None else "")


def flag_all(records, thresholds=Thresholds(), study_minutes=None):
    """Every participant's flags, by participant; the speeder cutoff from the completed ones among `records`;
    `study_minutes`: the duration declared on the platform (None: none declared)."""
    records = list(records)
    completed = [r.total_seconds for r in records if r.completed and r.total_seconds is not None]
    cutoff = speeder_cutoff(completed, thresholds)
    pending = speeder_pending(len(completed), cutoff, thresholds)
    return {r.participant: flag(r, cutoff, thresholds, study_minutes, pending) for r in records}
