"""platforms.py alone: what each platform's link carries, which IDs pass, and the way back from an ending."""

import pytest

from studyapp.platforms import (
    GENERIC, MTURK, PROLIFIC, SONA, Arrival, ArrivalError, WayBack, fill_url, placeholder_problem, read_arrival,
    study_link, way_back,
)

PID = "5f8a1b2c3d4e5f6a7b8c9d0e"


def query(**params):
    return {name: [value] for name, value in params.items()}


def test_each_platform_names_the_person_and_the_attempt():
    assert read_arrival(PROLIFIC, query(PROLIFIC_PID=PID, STUDY_ID="60aa" * 6, SESSION_ID="s1")) == Arrival(PID, "s1")
    assert read_arrival(PROLIFIC, query(PROLIFIC_PID=PID)) == Arrival(PID)
    mturk = query(workerId="A1B2C3D4E5", assignmentId="3ASSIGN", hitId="3HIT",
                  turkSubmitTo="https://workersandbox.mturk.com")
    assert read_arrival(MTURK, mturk) == Arrival("A1B2C3D4E5", "3ASSIGN", "https://workersandbox.mturk.com")
    assert read_arrival(SONA, query(id="123456")) == Arrival("123456")
    assert read_arrival(SONA, query(id="10")) == Arrival("10")
    assert read_arrival(GENERIC, query(pid="user_7.x-1"), id_parameter="pid") == Arrival("user_7.x-1")


def test_an_mturk_preview_is_no_arrival():
    preview = query(assignmentId="ASSIGNMENT_ID_NOT_AVAILABLE", hitId="3HIT")
    assert read_arrival(MTURK, preview) is None


@pytest.mark.parametrize("source, params, message", [
    (PROLIFIC, {}, "This link has no PROLIFIC_PID, the ID Prolific adds to it."),
    (PROLIFIC, query(PROLIFIC_PID=""), "PROLIFIC_PID is empty in this link"),
    (PROLIFIC, query(PROLIFIC_PID="a" * 101), "PROLIFIC_PID is 101 characters long; an ID has at most 100."),
    (PROLIFIC, query(PROLIFIC_PID="{{%PROLIFIC_PID%}}"), "PROLIFIC_PID is still the platform's placeholder"),
    (PROLIFIC, query(PROLIFIC_PID="abc def"), "PROLIFIC_PID must consist of letters and digits"),
    (PROLIFIC, query(PROLIFIC_PID=PID, SESSION_ID="x;y"), "SESSION_ID must consist of letters and digits"),
    (PROLIFIC, query(PROLIFIC_PID=PID, STUDY_ID=""), "STUDY_ID is empty"),
    (PROLIFIC, {"PROLIFIC_PID": [PID, "other"]}, "The link gives PROLIFIC_PID 2 times"),
    (SONA, query(id="012345"), "id must consist of 2 to 7 digits, the first not 0"),
    (SONA, query(id="12345678"), "id must consist of 2 to 7 digits"),
    (SONA, query(id="7"), "id must consist of 2 to 7 digits"),
    (SONA, query(id="12a4"), "id must consist of 2 to 7 digits"),
    (SONA, query(survey_code="1234"), "This link has no id, the ID SONA adds to it."),
    (MTURK, query(workerId="a1b2", assignmentId="X", turkSubmitTo="https://www.mturk.com"),
     "workerId must consist of capital letters and digits"),
    (MTURK, query(workerId="A1B2", turkSubmitTo="https://www.mturk.com"), "This link has no assignmentId"),
    (MTURK, query(workerId="A1B2", assignmentId="X", turkSubmitTo="https://evil.example"),
     "turkSubmitTo must be https://www.mturk.com or https://workersandbox.mturk.com"),
    (MTURK, query(workerId="A1B2", assignmentId="X"), "turkSubmitTo must be"),
    (GENERIC, query(id="abc"), "This link has no pid, the ID the site that sent you here adds to it."),
    (GENERIC, query(pid="a/b"), "pid must consist of letters, digits, '.', '-' and '_'"),
])
def test_missing_empty_long_or_foreign_ids_are_refused_with_the_reason(source, params, message):
    with pytest.raises(ArrivalError) as refused:
        read_arrival(source, params, id_parameter="pid")
    assert message in str(refused.value)


def test_the_link_to_paste_into_each_platform():
    base = "https://study.example.org/s/main/"
    assert study_link(base, PROLIFIC) == (
        base + "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
    assert study_link(base, SONA) == base + "?id=%SURVEY_CODE%"
    assert study_link(base, MTURK) == base  # MTurk appends workerId, assignmentId, hitId, turkSubmitTo itself
    assert study_link(base, GENERIC, "pid") == base + "?pid=<ID>"


def test_ending_urls_take_placeholders_filled_url_encoded():
    sona = ("https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=12&credit_token=ab9&"
            "survey_code={survey_code}")
    assert placeholder_problem(sona) is None
    assert fill_url(sona, "C", "123456").endswith("credit_token=ab9&survey_code=123456")
    assert fill_url("https://x.example/done?cc={code}&who={external_id}", "A&B C", "p/1") == \
        "https://x.example/done?cc=A%26B%20C&who=p%2F1"
    assert fill_url("https://x.example/{{literal}}", "C", "p") == "https://x.example/{literal}"
    assert placeholder_problem("https://x.example/?cc={cod}") == \
        "Unknown placeholder(s) {cod}; the placeholders are {code}, {external_id}, {survey_code}."
    assert "Unknown placeholder(s) {code!r}" in placeholder_problem("https://x.example/?cc={code!r}")
    assert "A brace is not closed" in placeholder_problem("https://x.example/?cc={code")


def test_the_way_back_from_an_ending():
    assert way_back(PROLIFIC, "C0DE", "") == WayBack(link_url="https://app.prolific.com/submissions/complete?cc=C0DE")
    assert way_back(PROLIFIC, "", "") == WayBack()
    assert way_back(PROLIFIC, "C0DE", "https://x.example/{code}") == WayBack(redirect_url="https://x.example/C0DE")
    assert way_back(SONA, "", "https://s.example/c?survey_code={survey_code}", external_id="4711") == \
        WayBack(redirect_url="https://s.example/c?survey_code=4711")
    assert way_back(GENERIC, "C", "") == WayBack()
    mturk = {"external_session": "3ASSIGN", "submit_to": "https://www.mturk.com"}
    handed_in = WayBack(submit_url="https://www.mturk.com/mturk/externalSubmit", assignment_id="3ASSIGN")
    assert way_back(MTURK, "", "https://ignored.example", hands_in=True, **mturk) == handed_in
    assert way_back(MTURK, "NOCONSENT", "", **mturk) == handed_in  # a code to hand in
    assert way_back(MTURK, "", "", **mturk) == WayBack()  # nothing to hand in: the worker returns the HIT
