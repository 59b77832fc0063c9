"""Arriving through a study link as a recruitment platform sends people, through Django's test client."""

from urllib.parse import urlencode

from .survey import AGREE, location

PID = "5f8a1b2c3d4e5f6a7b8c9d0e"


def prolific(slug, pid=PID, session="s1"):
    return f"/s/{slug}/?" + urlencode({"PROLIFIC_PID": pid, "STUDY_ID": "60a1b2c3d4e5f6a7b8c9d0e1",
                                       "SESSION_ID": session})


def arrive(client, url):
    """Open a study link; the survey page it leads to (straight there, no second redirect)."""
    return location(client.get(url))


def through_background(client):
    """From consent to the first trial; its URL."""
    assert location(client.post("/consent/", AGREE)) == "/instructions/"
    assert location(client.post("/instructions/")) == "/background/"
    return location(client.post("/background/", {"degree": "master", "cv_experience_years": "3"}))
