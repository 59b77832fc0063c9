"""config/sessions.py: database sessions whose first write is one INSERT; login and logout as Django's."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection

from config.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_new_session_is_stored_once_with_its_data_under_a_new_key():
    store = SessionStore()
    store.cycle_key()
    store["k"] = "v"
    assert store.session_key is None and not Session.objects.exists()
    with CaptureQueriesContext(connection) as queries:
        store.save()
    assert [q["sql"].split()[0] for q in queries.captured_queries if q["sql"].split()[0] not in (
        "BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")] == ["INSERT"]
    assert SessionStore(store.session_key).load() == {"k": "v"}


def test_an_unknown_key_from_a_cookie_is_never_adopted():
    store = SessionStore("an0attacker0chosen0key0000000000")
    store.cycle_key()
    store["k"] = "v"
    store.save()
    assert store.session_key != "an0attacker0chosen0key0000000000"
    assert not Session.objects.filter(session_key="an0attacker0chosen0key0000000000").exists()


def test_a_stored_session_gets_a_new_key_and_the_old_one_is_gone():
    store = SessionStore()
    store["k"] = "v"
    store.save()
    old = store.session_key
    store.cycle_key()
    assert store.session_key not in (None, old) and store["k"] == "v"
    assert not Session.objects.filter(session_key=old).exists()


def test_a_taken_key_is_drawn_again(monkeypatch):
    taken = SessionStore()
    taken.save()
    keys = iter([taken.session_key, "b" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(keys))
    store = SessionStore()
    store["k"] = "v"
    store.save()
    assert store.session_key == "b" * 32 and SessionStore(taken.session_key).load() == {}


def test_login_and_logout_through_the_site(settings):
    user = get_user_model().objects.create_user("someone", password="a long password 123")
    client = Client()
    assert client.post("/login/", {"username": "someone", "password": "a long password 123"}).status_code == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.get(session_key=key).get_decoded()["_auth_user_id"] == str(user.pk)
    client.post("/logout/")
    assert not Session.objects.filter(session_key=key).exists()
