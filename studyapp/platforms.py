"""Recruitment platforms: what each puts in the study link, what its IDs look like, how people go back.

Pure Python (no Django). Prolific, MTurk and SONA each send everyone to one study URL carrying the
person's platform ID; a `generic` source names its own ID parameter. `read_arrival` turns a link's
query into an `Arrival` or refuses it with a message that says what is wrong (the view answers 400
and stores nothing). Ending URLs take placeholders, filled URL-encoded: `{code}` (the ending's code),
`{external_id}` (the person's platform ID) and `{survey_code}` (the same ID, under SONA's name for it).
"""

import re
from dataclasses import dataclass
from string import Formatter
from urllib.parse import quote

PROLIFIC, MTURK, SONA, GENERIC = "prolific", "mturk", "sona", "generic"
MAX_ID_LENGTH = 100
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"  # MTurk's assignmentId while a worker only previews the HIT
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
PLACEHOLDERS = ("code", "external_id", "survey_code")
PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
UNFILLED_PLACEHOLDER = re.compile(r"\{\{%\w+%\}\}|%SURVEY_CODE%|<ID>")  # as in link_query, not yet filled in


@dataclass(frozen=True)
class Platform:
    name: str  # as participants know it
    person: str  # the query parameter that names the person
    session: str  # the parameter that names the attempt ("" when the platform sends none)
    alphabet: str  # regular expression an ID must match in full
    alphabet_text: str  # the same, for people
    link_query: str  # the query to paste into the platform ("" when the platform appends its own)
    others: tuple = ()  # further parameters, checked like IDs when present
    task: str = "study"  # what participants return on the platform when they do not take part


PLATFORMS = {
    PROLIFIC: Platform("Prolific", "PROLIFIC_PID", "SESSION_ID", r"[A-Za-z0-9]+", "letters and digits",
                       "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
                       others=("STUDY_ID",)),
    MTURK: Platform("MTurk", "workerId", "assignmentId", r"[A-Z0-9]+", "capital letters and digits", "",
                    others=("hitId",), task="HIT"),
    SONA: Platform("SONA", "id", "", r"[1-9][0-9]{1,6}", "2 to 7 digits, the first not 0", "id=%SURVEY_CODE%"),
    GENERIC: Platform("the site that sent you here", "", "", r"[A-Za-z0-9_.-]+",
                      "letters, digits, '.', '-' and '_'", ""),
}


def platform(source, id_parameter=""):
    """The Platform of a study's recruitment source; a generic one carries the study's ID parameter."""
    found = PLATFORMS[source]
    if source == GENERIC:
        return Platform(found.name, id_parameter, "", found.alphabet, found.alphabet_text,
                        f"{id_parameter}=<ID>")
    return found


class ArrivalError(ValueError):
    """The study link's query is not one the platform sends; the message says what is wrong."""


@dataclass(frozen=True)
class Arrival:
    external_id: str
    external_session: str = ""
    submit_to: str = ""  # MTurk's turkSubmitTo: where the ending form posts


def single_value(params, name, label):
    values = params.get(name, [])
    if len(values) > 1:
        raise ArrivalError(f"The link gives {name} {len(values)} times; {label} needs it once.")
    return values[0] if values else None


def checked_id(value, name, spec, required):
    """`value` of parameter `name` if it is a well-formed ID of the platform; ArrivalError otherwise."""
    source = f"Open the study again from {spec.name}; if this persists, tell the researchers."
    if value is None:
        if required:
            raise ArrivalError(f"This link has no {name}, the ID {spec.name} adds to it. {source}")
        return ""
    if not value:
        raise ArrivalError(f"{name} is empty in this link; it should carry your ID from {spec.name}. {source}")
    if len(value) > MAX_ID_LENGTH:
        raise ArrivalError(f"{name} is {len(value)} characters long; an ID has at most {MAX_ID_LENGTH}. {source}")
    if UNFILLED_PLACEHOLDER.search(value):
        raise ArrivalError(f"{name} is still the platform's placeholder {value}: this is the study link as it is "
                           f"pasted into {spec.name}, which puts each person's ID in its place. Researchers: to try "
                           "the study, use Preview on its dashboard or in the admin.")
    if not re.fullmatch(spec.alphabet, value):
        raise ArrivalError(f"{name} must consist of {spec.alphabet_text}; the one in this link does not. {source}")
    return value


def read_arrival(source, params, id_parameter=""):
    """The Arrival a study link's query describes, None for an MTurk preview; ArrivalError when malformed.

    `params` maps each query parameter to the list of its values (a query may repeat a name).
    """
    spec = platform(source, id_parameter)
    session = single_value(params, spec.session, spec.name) if spec.session else None
    if source == MTURK and session == MTURK_PREVIEW:
        return None  # the worker has not accepted the HIT: show the task, create nothing
    external_id = checked_id(single_value(params, spec.person, spec.name), spec.person, spec, required=True)
    for name in spec.others:
        checked_id(single_value(params, name, spec.name), name, spec, required=False)
    external_session = checked_id(session, spec.session, spec, required=source == MTURK) if spec.session else ""
    submit_to = ""
    if source == MTURK:
        submit_to = (single_value(params, "turkSubmitTo", spec.name) or "").rstrip("/")
        if submit_to not in MTURK_SUBMIT_HOSTS:
            raise ArrivalError(f"turkSubmitTo must be {' or '.join(MTURK_SUBMIT_HOSTS)}; the one in this link is "
                               "not. Open the HIT again from MTurk; if this persists, tell the researchers.")
    return Arrival(external_id, external_session, submit_to)


def study_link(base_url, source, id_parameter=""):
    """The study URL to paste into the platform: `base_url` (the study's open link) with the platform's query."""
    query = platform(source, id_parameter).link_query
    return f"{base_url}?{query}" if query else base_url


@dataclass(frozen=True)
class WayBack:
    """How an ending sends a participant back to their platform (at most one of these is set)."""

    redirect_url: str = ""  # sent there at once
    submit_url: str = ""  # MTurk: a form posts `assignment_id` (and the code) there
    assignment_id: str = ""
    link_url: str = ""  # Prolific without a redirect: its completion URL, offered as a link beside the code


def way_back(source, code, redirect_template, *, external_id="", external_session="", submit_to="", hands_in=False):
    """The way back from an ending with `code` (maybe ""), the study's redirect template (maybe "").

    MTurk takes an assignment back only through its form, so an MTurk ending that `hands_in` work (or
    has a code) posts it there rather than redirecting; other endings ask the worker to return the HIT.
    """
    if source == MTURK:
        if submit_to and external_session and (hands_in or code):
            return WayBack(submit_url=f"{submit_to}/mturk/externalSubmit", assignment_id=external_session)
        return WayBack()
    if redirect_template:
        return WayBack(redirect_url=fill_url(redirect_template, code, external_id))
    if source == PROLIFIC and code:
        return WayBack(link_url=fill_url(PROLIFIC_COMPLETION_URL, code, external_id))
    return WayBack()


CREDITED_SOURCES = (PROLIFIC, MTURK, SONA)  # platforms that credit (pay, grant course credit) only on proof


def credit_problem(source, code, redirect_template):
    """Why people who complete a study from `source` could not be credited with this ending; None when they can.

    Prolific credits a completion code (shown, or in its completion URL); SONA grants credit when the
    person is sent to the study's credit URL with their ID; MTurk takes the HIT back through its own form,
    and the researcher approves it by the code the worker hands in.
    """
    if source not in CREDITED_SOURCES:
        return None
    name = PLATFORMS[source].name
    if source == MTURK and not code:
        return (f"{name} needs a completion code: the worker hands it in with the HIT through {name}'s form "
                "(a redirect is not used), and you approve assignments by it.")
    if source == SONA and redirect_template and not {"survey_code", "external_id"} & placeholder_names(
            redirect_template):
        return (f"{name}'s credit URL must carry the person's ID: put {{survey_code}} where SONA's completion "
                "URL has XXXX.")
    if not code and not redirect_template:
        how = ("a completion code (Prolific's 'completion code' of the study), or a redirect to "
               + PROLIFIC_COMPLETION_URL) if source == PROLIFIC else \
            "a redirect to SONA's completion URL with {survey_code} (or a code to check by hand)"
        return f"People who complete the study cannot be credited on {name} without {how}."
    return None


def placeholder_names(template):
    """The placeholder names in a well-formed ending URL template."""
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def placeholder_problem(template):
    """Why an ending URL template cannot be filled (unknown or malformed placeholder); None when it can."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(template)
                  if name is not None]
    except ValueError as error:
        return f"A brace is not closed or not doubled ({error}); placeholders are {{code}}, {{external_id}}, " \
               "{survey_code}; write {{ and }} for literal braces."
    unknown = sorted({"{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                      for name, spec, conversion in fields if name not in PLACEHOLDERS or spec or conversion})
    if unknown:
        return f"Unknown placeholder(s) {', '.join(unknown)}; the placeholders are " \
               + ", ".join("{" + n + "}" for n in PLACEHOLDERS) + "."
    return None


def fill_url(template, code, external_id):
    """An ending URL with its placeholders filled in, URL-encoded."""
    values = {"code": quote(code, safe=""), "external_id": quote(external_id, safe="")}
    values["survey_code"] = values["external_id"]
    return template.format_map(values)
