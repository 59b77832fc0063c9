"""Every flag's rule on made-up timings and answers, edges included (studyapp.quality is pure: no database)."""

import math
import statistics

import numpy as np
import pytest
from statsmodels.robust.scale import qn_scale

from studyapp import quality
from studyapp.quality import Record, Thresholds, flag, flag_all, speeder_cutoff, straight_lining

T = Thresholds(speeder_sd=3, speeder_min_completions=10, page_floor_ms=1000, straightlining_share=0.9,
               straightlining_min_ratings=5)


def completed(name, seconds, **kw):
    return Record(name, completed=True, total_seconds=seconds, **kw)


def test_the_speeder_cutoff_is_three_robust_sd_of_log_time_below_the_median_and_needs_the_minimum_completions():
    times = [600, 610, 590, 605, 595, 620, 580, 600, 640]  # nine: not yet
    assert speeder_cutoff(times, T) is None
    times.append(30)
    logs = np.log(times)
    expected = math.exp(np.median(logs) - 3 * qn_scale(logs))  # statsmodels' Qn, as the field computes it
    assert speeder_cutoff(times, T) == pytest.approx(expected, rel=1e-12)
    assert speeder_cutoff(times + [None], T) == pytest.approx(expected, rel=1e-12)  # missing times are not counted
    assert speeder_cutoff([600] * 9 + [30], T) is None  # no spread to judge by
    assert quality.speeder_pending(10, None, T) == "not judged: the 10 completion times hardly differ (most are equal)"


def test_a_speeder_is_flagged_at_ten_completions_where_mean_minus_three_sd_of_all_could_never_fire():
    """Judged against a mean and SD that include their own time, the fastest of n lies at most (n - 1) / sqrt(n)
    SD below the mean: 2.85 at n = 10, so the old rule could not flag even a 0.9-s completer."""
    times = [600.0 + 10 * (i % 3) for i in range(9)] + [0.9]
    z = (times[-1] - statistics.fmean(times)) / statistics.stdev(times)
    assert -3 < -(10 - 1) / 10 ** 0.5 <= z  # the bound: mean - 3 SD of all ten is below every time
    flags = flag_all([completed(f"p{i}", t) for i, t in enumerate(times[:-1])] + [completed("fast", 0.9)], T)
    assert flags["fast"].speeder is True and "speeder" in flags["fast"].rejectable_reasons[0]
    assert not any(flags[f"p{i}"].speeder for i in range(9))


def test_two_speeders_are_both_flagged_and_a_wide_spread_does_not_hide_them():
    """Raw mean - 3 SD fails both ways: two speeders raise the SD, and an SD over a third of the mean puts the cutoff
    below zero."""
    wide = [200, 300, 450, 600, 650, 800, 900, 1200, 1500, 1800]  # SD 0.5 x mean: mean - 3 SD < 0
    assert statistics.fmean(wide) - 3 * statistics.stdev(wide) < 0
    flags = flag_all([completed(f"p{i}", t) for i, t in enumerate(wide)]
                     + [completed("fast1", 0.9), completed("fast2", 1.4)], T)
    assert flags["fast1"].speeder and flags["fast2"].speeder
    assert not any(flags[f"p{i}"].speeder for i in range(len(wide)))


def test_the_speeder_flag_is_strictly_under_the_cutoff_and_judges_only_completed_participants():
    records = [completed(f"p{i}", 600 + 7 * i) for i in range(20)] + [completed("fast", 9)]
    flags = flag_all(records + [Record("running", completed=False)], T)
    cutoff = flags["fast"].speeder_cutoff_seconds
    assert flags["fast"].speeder is True and flags["fast"].total_seconds == 9
    assert not any(flags[f"p{i}"].speeder for i in range(20))
    assert flags["running"].speeder is None and flags["running"].speeder_pending == ""
    assert flag(completed("edge", cutoff), cutoff, T).speeder is False  # exactly at the cutoff: not a speeder
    assert flag(completed("under", cutoff - 0.001), cutoff, T).speeder is True


def test_no_speeder_before_the_minimum_number_of_completions_and_it_says_how_many_there_are():
    flags = flag_all([completed(f"p{i}", 600 + i) for i in range(8)] + [completed("fast", 9)], T)
    assert flags["fast"].speeder is None and not flags["fast"].flagged
    assert flags["fast"].speeder_pending == "not judged yet (9 of 10 completions)"


def test_fast_pages_count_under_the_floor_and_never_make_a_rejection_alone():
    record = Record("p", page_ms=(999, 1000, 0, 5000, None))
    flags = flag(record, None, T)
    assert flags.fast_pages == 2
    assert flags.flagged and flags.rejectable_reasons == ()


@pytest.mark.parametrize("ratings, expected, share", [
    ([(3, 3)] * 4, None, None),  # too few to judge
    ([(3, 1), (3, 2), (3, 4), (3, 5), (3, 1)], True, 1.0),  # no variance on the first statement
    ([(1, 1)] * 9 + [(2, 2)], True, 0.9),  # exactly the share
    ([(1, 1)] * 8 + [(2, 2), (3, 3)], False, 0.8),  # under it
    ([(1, 5), (2, 4), (3, 3), (4, 2), (5, 1)], False, 0.2),
])
def test_straight_lining(ratings, expected, share):
    lined, got = straight_lining(ratings, T)
    assert lined is expected
    assert got == (pytest.approx(share) if share is not None else None)


def test_attention_rejection_needs_two_failed_checks_in_a_study_of_five_minutes():
    one = Record("p", attention_answered=3, attention_passed=2)
    two = Record("p", attention_answered=3, attention_passed=1)
    assert flag(one, None, T, study_minutes=20).attention_failed == 1
    assert not flag(one, None, T, study_minutes=20).attention_rejectable
    assert flag(two, None, T, study_minutes=5).attention_rejectable
    assert not flag(two, None, T, study_minutes=4.9).attention_rejectable
    assert not flag(two, None, T, study_minutes=None).attention_rejectable
    assert flag(two, None, T, study_minutes=5).rejectable_reasons == ("failed 2 of 3 attention checks reached",)
    assert not flag(two, None, T, study_minutes=4).rejectable_reasons  # flagged, not rejectable
    assert flag(two, None, T, study_minutes=4).flagged


def test_page_hides_are_summed_over_pages_that_counted_and_empty_without_script():
    assert flag(Record("p", page_hides=(None, None)), None, T).page_hides is None
    assert flag(Record("p", page_hides=()), None, T).page_hides is None
    assert flag(Record("p", page_hides=(0, 0)), None, T).page_hides == 0
    hides = flag(Record("p", page_hides=(2, None, 1)), None, T)
    assert hides.page_hides == 3 and hides.flagged and not hides.rejectable_reasons


def test_a_clean_participant_has_no_flag():
    flags = flag(completed("p", 600, page_ms=(4000,) * 10, ratings=tuple((i % 5 + 1, (i + 2) % 5 + 1)
                                                                         for i in range(10)),
                           attention_answered=2, attention_passed=2, page_hides=(0,) * 10), 100, T, 20)
    assert not flags.flagged and flags.speeder is False and flags.straight_lining is False


@pytest.mark.parametrize("bad", [dict(speeder_sd=0), dict(speeder_min_completions=2), dict(straightlining_share=0),
                                 dict(straightlining_share=1.1), dict(page_floor_ms=-1),
                                 dict(straightlining_min_ratings=1)])
def test_thresholds_refuse_values_that_make_no_rule(bad):
    with pytest.raises(ValueError):
        Thresholds(**bad)


def test_the_module_imports_no_django():
    import ast, inspect
    tree = ast.parse(inspect.getsource(quality))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any(name and name.startswith("django") for name in names)


def test_honest_pilots_of_ten_are_rarely_flagged_and_a_speeder_among_them_always_is():
    """Completion times are right-skewed: seeded log-normal pilots (SD 0.3 of log time) of ten honest people. The rule
    flags someone in about 1 % of them (benchmarks/speeder_rule.py compares the rules)."""
    rng = np.random.default_rng(0)
    pilots, flagged = 1000, 0
    for _ in range(pilots):
        times = 600 * np.exp(rng.normal(0, 0.3, size=10))
        flagged += bool((times < speeder_cutoff(times, T)).any())
        assert speeder_cutoff([*times[:9], 0.9], T) > 0.9
    assert flagged / pilots < 0.03
