"""Every flag's rule on made-up timings and answers, edges included (studyapp.quality is pure: no database)."""

import statistics

import pytest

from studyapp import quality
from studyapp.quality import Record, Thresholds, flag, flag_all, speeder_cutoff, straight_lining

T = Thresholds(speeder_sd=3, speeder_min_completions=10, page_floor_ms=1000, straightlining_share=0.9,
               straightlining_min_ratings=5)


def completed(name, seconds, **kw):
    return Record(name, completed=True, total_seconds=seconds, **kw)


def test_speeder_cutoff_is_mean_minus_three_sd_and_needs_the_minimum_completions():
    times = [600, 610, 590, 605, 595, 620, 580, 600, 600]  # nine: not yet
    assert speeder_cutoff(times, T) is None
    times.append(30)
    expected = statistics.fmean(times) - 3 * statistics.stdev(times)
    assert speeder_cutoff(times, T) == pytest.approx(expected)
    assert speeder_cutoff(times + [None], T) == pytest.approx(expected)  # missing times are not counted


def test_the_speeder_flag_is_strictly_under_the_cutoff_and_judges_only_completed_participants():
    records = [completed(f"p{i}", 600 + i) for i in range(20)] + [completed("fast", 9)]
    flags = flag_all(records + [Record("running", completed=False)], T)
    cutoff = flags["fast"].speeder_cutoff_seconds
    assert flags["fast"].speeder is True and flags["fast"].total_seconds == 9
    assert not any(flags[f"p{i}"].speeder for i in range(20))
    assert flags["running"].speeder is None
    assert flag(completed("edge", cutoff), cutoff, T).speeder is False  # exactly at the cutoff: not a speeder
    assert flag(completed("under", cutoff - 0.001), cutoff, T).speeder is True
    assert "speeder" in flags["fast"].rejectable_reasons[0]


def test_no_speeder_before_the_minimum_number_of_completions():
    flags = flag_all([completed(f"p{i}", 600) for i in range(8)] + [completed("fast", 9)], T)
    assert flags["fast"].speeder is None and not flags["fast"].flagged


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


@pytest.mark.parametrize("bad", [dict(speeder_sd=0), dict(speeder_min_completions=1), dict(straightlining_share=0),
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
