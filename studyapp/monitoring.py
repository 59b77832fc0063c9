"""What the researcher's console shows of a study, read in a bounded number of queries whatever its size.

`study_rows` gathers one `Row` per participant (progress, times, flags, decision) in three grouped queries;
`funnel`, `durations` and the sorting are plain functions over those rows. The flags' rules are
studyapp.quality's; what counts as answered and as a passed check is studyapp.models' (the same as the export).
"""

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from . import quality
from .models import Outcome, Participant, Trial, answered, passed_check

RATING_BLOCK = 10  # the funnel counts rating pages in blocks of this many


@dataclass
class Row:
    pk: int
    participant: str
    outcome: str
    outcome_label: str
    arrived_at: object
    consented_at: object
    instructions_read_at: object
    instructions_read: bool
    background_given: bool
    background_given_at: object
    completed_at: object
    ended_at: object
    trials_total: int
    trials_done: int
    rating_pages_total: int
    rating_pages_done: int
    choices_done: int
    attention_answered: int
    attention_passed: int
    last_activity: object
    current_page: str
    time_on_page: timedelta | None
    total_time: timedelta | None
    stuck: bool
    excluded: bool | None
    exclusion_reason: str | None
    flags: quality.Flags | None = field(default=None)
    # A study of task blocks: right answers above chance (studyapp.scoring; None: no scored answer yet) and the bonus
    # they earn where the study pays one; the console fills them in for its page of rows.
    score: float | None = None
    bonus: object = None

    @property
    def time_on_page_text(self):
        return duration_text(self.time_on_page)

    @property
    def total_time_text(self):
        return duration_text(self.total_time)


def duration_text(delta):
    """A duration for people: 45 s, 12 min 05 s, 3 h 04 min; "" for none."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def current_page(row):
    if row.outcome != Outcome.IN_PROGRESS:
        return "ended: " + row.outcome_label
    if row.consented_at is None:
        return "consent"
    if not row.instructions_read:
        return "instructions"
    if not row.background_given:
        return "background"
    if row.trials_done < row.trials_total:
        return f"page {row.trials_done + 1} of {row.trials_total}"
    return "completion"


def latest(*times):
    present = [t for t in times if t is not None]
    return max(present) if present else None


def study_rows(study, now=None, include_preview=False):
    """One Row per participant of the study (previews only when asked), flags and decision included."""
    now = now or timezone.now()
    people = Participant.objects.filter(study=study)
    if not include_preview:
        people = people.filter(is_preview=False)
    rating_page = Q(trials__kind__in=[Trial.Kind.RATING, Trial.Kind.ATTENTION])
    progress = people.with_decision().annotate(
        trials_total=Count("trials"),
        trials_done=Count("trials", filter=answered("trials__")),
        rating_pages_total=Count("trials", filter=rating_page),
        rating_pages_done=Count("trials", filter=rating_page & answered("trials__")),
        choices_done=Count("trials", filter=Q(trials__choice_response__isnull=False)),
        attention_answered=Count("trials", filter=Q(trials__attention_response__isnull=False)),
        attention_passed=Count("trials", filter=passed_check("trials__")),
        last_shown=Max("trials__shown_at"),
    ).values("pk", "pseudonym", "outcome", "arrived_at", "consented_at", "instructions_read_at",
             "background_given_at", "degree",
             "cv_experience_years", "completed_at", "ended_at", "excluded", "exclusion_reason", "trials_total",
             "trials_done", "rating_pages_total", "rating_pages_done", "choices_done", "attention_answered",
             "attention_passed", "last_shown", "trials_at_deletion", "rating_pages_at_deletion",
             "answered_at_deletion")
    answers = answer_facts(people, study.page_floor_ms)
    labels = dict(Outcome.choices)
    rows = []
    for p in progress:
        if p["trials_at_deletion"] is not None:  # withdrawn or erased: the plan is deleted, how far they got is kept
            p.update(progress_at_deletion(p["trials_at_deletion"], p["rating_pages_at_deletion"],
                                          p["answered_at_deletion"]))
        facts = answers.get(p["pk"], {})
        last = latest(p["arrived_at"], p["consented_at"], p["instructions_read_at"], p["background_given_at"],
                      p["last_shown"], facts.get("last_answer"), p["ended_at"])
        began = p["arrived_at"] or p["consented_at"]
        end = p["ended_at"] if p["outcome"] != Outcome.IN_PROGRESS else now
        background_given = p["background_given_at"] is not None or (p["cv_experience_years"] is not None
                                                                    and bool(p["degree"]))
        row = Row(
            pk=p["pk"], participant=p["pseudonym"], outcome=p["outcome"], outcome_label=labels[p["outcome"]],
            arrived_at=p["arrived_at"], consented_at=p["consented_at"],
            instructions_read_at=p["instructions_read_at"],
            # A later step implies the earlier: rows withdrawn before their times were kept lost this one.
            instructions_read=p["instructions_read_at"] is not None or background_given,
            background_given=background_given,
            background_given_at=p["background_given_at"],
            completed_at=p["completed_at"], ended_at=p["ended_at"], trials_total=p["trials_total"],
            trials_done=p["trials_done"], rating_pages_total=p["rating_pages_total"],
            rating_pages_done=p["rating_pages_done"], choices_done=p["choices_done"],
            attention_answered=p["attention_answered"], attention_passed=p["attention_passed"],
            last_activity=last, current_page="", time_on_page=None,
            total_time=(end - began) if began and end else None, stuck=False,
            excluded=p["excluded"], exclusion_reason=p["exclusion_reason"])
        row.current_page = current_page(row)
        if row.outcome == Outcome.IN_PROGRESS and last is not None:
            row.time_on_page = now - last
            row.stuck = row.time_on_page > study.stuck_after
        rows.append(row)
    attach_flags(study, rows, answers)
    return rows


def progress_at_deletion(trials, rating_pages, answered_count):
    """The progress counts of a participant whose plan was deleted, from what erase() kept: pages are answered in
    plan order, rating pages (attention checks among them) first, then the side-by-side pages."""
    return {"trials_total": trials, "trials_done": answered_count, "rating_pages_total": rating_pages,
            "rating_pages_done": min(answered_count, rating_pages),
            "choices_done": max(0, answered_count - rating_pages)}


def answer_facts(people, floor_ms):
    """Per participant pk: fast pages, page hides (None: no page counted), ratings' answers, last answer time."""
    facts = {}
    for kind, relation in (("rating", "likert_response"), ("attention", "attention_response"),
                           ("choice", "choice_response")):
        grouped = Trial.objects.filter(participant__in=people, **{f"{relation}__isnull": False}).values(
            "participant_id").annotate(
            fast=Count("pk", filter=Q(**{f"{relation}__rt_ms__lt": floor_ms})),
            hides=Sum(f"{relation}__page_hides"), counted=Count(f"{relation}__page_hides"),
            last=Max(f"{relation}__answered_at")).order_by()
        for g in grouped:
            f = facts.setdefault(g["participant_id"], {"fast": 0, "hides": None, "ratings": [], "last_answer": None})
            f["fast"] += g["fast"]
            if g["counted"]:
                f["hides"] = (f["hides"] or 0) + g["hides"]
            f["last_answer"] = latest(f["last_answer"], g["last"])
    # Straight-lining needs each rating's two answers: one small row per rating (ints only).
    for pid, sufficiency, trust in Trial.objects.filter(
            participant__in=people, likert_response__isnull=False).values_list(
            "participant_id", "likert_response__sufficiency", "likert_response__trust"):
        facts.setdefault(pid, {"fast": 0, "hides": None, "ratings": [], "last_answer": None})["ratings"].append(
            (sufficiency, trust))
    return facts


def study_minutes(study):
    """The study's duration as Prolific's attention rule reads it: the duration declared on the platform (None:
    none declared), never the estimate, which moves with every completion."""
    return study.declared_minutes


def attach_flags(study, rows, answers):
    thresholds = study.quality_thresholds()
    records = []
    for row in rows:
        facts = answers.get(row.pk, {})
        completed = row.outcome == Outcome.COMPLETED and row.completed_at is not None and row.consented_at is not None
        hides = facts.get("hides")
        records.append(quality.Record(
            row.participant, completed=completed,
            total_seconds=(row.completed_at - row.consented_at).total_seconds() if completed else None,
            page_ms=(0,) * facts.get("fast", 0),  # only the count under the floor matters here
            ratings=tuple(facts.get("ratings", ())), attention_answered=row.attention_answered,
            attention_passed=row.attention_passed, page_hides=() if hides is None else (hides,)))
    flags = quality.flag_all(records, thresholds, study_minutes(study))
    for row in rows:
        row.flags = flags[row.participant]


def flags_by_participant(study, include_preview=False):
    return {row.participant: row for row in study_rows(study, include_preview=include_preview)}


# --- Summaries (plain functions over rows) ---------------------------------------------------------------

def funnel(rows):
    """Steps in order, each (label, reached, stopped here while in progress, stopped here having ended, drop-off).

    A participant 'stopped at' a step reached it and not the next one; drop-off is the share of those who
    reached a step that got no further (ended there or still there)."""
    rating_total = max((r.rating_pages_total for r in rows), default=0)
    steps = [("arrived", lambda r: True), ("consented", lambda r: r.consented_at is not None),
             ("instructions read", lambda r: r.instructions_read),
             ("background given", lambda r: r.background_given)]
    for start in range(0, rating_total, RATING_BLOCK):
        stop = min(start + RATING_BLOCK, rating_total)
        steps.append((f"rating pages {start + 1}–{stop} answered",
                      lambda r, stop=stop: r.rating_pages_total and r.rating_pages_done >= min(stop, r.rating_pages_total)))
    steps.append(("comparisons answered", lambda r: r.trials_total > 0 and r.trials_done == r.trials_total))
    steps.append(("completed", lambda r: r.outcome == Outcome.COMPLETED))
    reached = [[r for r in rows if test(r)] for _, test in steps]
    result = []
    for i, (label, _) in enumerate(steps):
        here = reached[i]
        further = {r.pk for r in reached[i + 1]} if i + 1 < len(steps) else {r.pk for r in here}
        stopped = [r for r in here if r.pk not in further]
        waiting = sum(1 for r in stopped if r.outcome == Outcome.IN_PROGRESS)
        result.append((label, len(here), waiting, len(stopped) - waiting,
                       (len(stopped) / len(here)) if here and i + 1 < len(steps) else None))
    return result


def page_stops(rows):
    """Each single survey page in order (rating pages 1..n, attention checks counted among them as in the funnel's
    blocks, then comparison pages 1..m): (label, reached, stopped there while in progress, stopped there having
    ended, drop-off in % = 100 x stopped there / reached it, None where nobody reached it; a percentage with decimals,
    not the funnel's fraction: one stop among 1000 is 0.1 %, not 0).

    A participant reached a page when they had answered every page before it, and stopped there when they did
    not answer it: the first page they have not answered (for an attention-check ending, the page after the failed
    check). Who answered every page stopped on none. Plain counting over the rows: no query."""
    rating_pages = max((r.rating_pages_total for r in rows), default=0)
    comparison_pages = max((r.trials_total - r.rating_pages_total for r in rows), default=0)
    pages = rating_pages + comparison_pages
    starts, stops = [0] * (pages + 1), [0] * (pages + 1)  # reached: +1 from its first page to its last (a range)
    waiting, ended = [0] * pages, [0] * pages
    for r in rows:
        if not (r.background_given and r.trials_total):
            continue
        comparisons = r.trials_total - r.rating_pages_total
        starts[0] += 1
        stops[min(r.rating_pages_done + 1, r.rating_pages_total)] += 1  # rating pages reached: 1 .. done + 1
        stopped = r.rating_pages_done if r.rating_pages_done < r.rating_pages_total else None
        if r.rating_pages_done == r.rating_pages_total and comparisons:  # all rated: comparison pages 1 .. done + 1
            starts[rating_pages] += 1
            stops[rating_pages + min(r.choices_done + 1, comparisons)] += 1
            stopped = rating_pages + r.choices_done if r.choices_done < comparisons else None
        if stopped is not None:
            (waiting if r.outcome == Outcome.IN_PROGRESS else ended)[stopped] += 1
    reached, count = [], 0
    for page in range(pages):
        count += starts[page] - stops[page]
        reached.append(count)
    labels = [f"rating page {k}" for k in range(1, rating_pages + 1)]
    labels += [f"comparison page {k}" for k in range(1, comparison_pages + 1)]
    return [(label, reached[i], waiting[i], ended[i],
             100 * (waiting[i] + ended[i]) / reached[i] if reached[i] else None)
            for i, label in enumerate(labels)]


def outcome_counts(rows):
    counts = {value: 0 for value, _ in Outcome.choices}
    for r in rows:
        counts[r.outcome] += 1
    return [(label, counts[value]) for value, label in Outcome.choices]


def quartiles(values):
    values = sorted(values)
    if not values:
        return None
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


# The pages before the trials, each timed from the previous page's submission to its own (Row attributes).
STEP_PAGES = {"consent (arrival to consent)": ("arrived_at", "consented_at"),
              "instructions (consent to instructions read)": ("consented_at", "instructions_read_at"),
              "background questions (instructions read to background given)": ("instructions_read_at",
                                                                                "background_given_at")}


def median_seconds(rows, start, end):
    """Median seconds from Row attribute `start` to `end`, over the rows having both (None: no such row)."""
    values = [(getattr(r, end) - getattr(r, start)).total_seconds() for r in rows
              if getattr(r, start) and getattr(r, end)]
    return statistics.median(values) if values else None


def durations(study, rows):
    """Median and IQR of completion time (minutes), and each page kind's median time (seconds)."""
    done = [(r.completed_at - r.consented_at).total_seconds() / 60 for r in rows
            if r.outcome == Outcome.COMPLETED and r.completed_at and r.consented_at]
    kinds = {}
    for kind, relation in ((Trial.Kind.RATING, "likert_response"), (Trial.Kind.ATTENTION, "attention_response"),
                           (Trial.Kind.CHOICE, "choice_response")):
        times = list(Trial.objects.filter(participant__in=Participant.objects.filter(study=study, is_preview=False),
                                          kind=kind, **{f"{relation}__isnull": False})
                     .values_list(f"{relation}__rt_ms", flat=True))
        kinds[Trial.Kind(kind).label] = statistics.median(times) / 1000 if times else None
    for label, (start, end) in STEP_PAGES.items():
        kinds[label] = median_seconds(rows, start, end)
    return {"completion_minutes": quartiles(done), "completed": len(done), "page_seconds": kinds}


SORTS = {
    "participant": lambda r: r.participant,
    "last_activity": lambda r: r.last_activity.timestamp() if r.last_activity else 0,
    "time_on_page": lambda r: r.time_on_page.total_seconds() if r.time_on_page else -1,
    "total_time": lambda r: r.total_time.total_seconds() if r.total_time else -1,
    "progress": lambda r: r.trials_done,
    "outcome": lambda r: r.outcome,
    "flags": lambda r: len(r.flags.reasons) if r.flags else 0,
}


def sorted_rows(rows, key, descending):
    if key not in SORTS:
        raise ValueError(f"Unknown sort {key!r}; sort by one of {', '.join(SORTS)}.")
    return sorted(rows, key=SORTS[key], reverse=descending)


def activity_figure(times, zone):
    """Arrivals and completions over time (cumulative), as PNG bytes; `times`: (arrived, consented, completed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    import io

    arrivals = sorted(a or c for a, c, _ in times if (a or c) is not None)
    completions = sorted(done for _, _, done in times if done is not None)
    figure = Figure(figsize=(7, 2.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, series in (("arrived", arrivals), ("completed", completions)):
        if series:
            axes.step(series, range(1, len(series) + 1), where="post", label=f"{label} ({len(series)})")
    axes.set_ylabel("participants (cumulative)")
    locator = AutoDateLocator(tz=zone)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))
    axes.set_xlabel(f"time ({zone})")
    if arrivals:
        axes.legend(loc="upper left")
    else:
        axes.text(0.5, 0.5, "No arrivals yet", ha="center", va="center", transform=axes.transAxes)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()
