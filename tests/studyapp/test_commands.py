"""The researcher's commands: invites, the demo study, and rehearsals through the real survey."""

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from saliency.models import Stimulus
from studyapp import enrollment
from studyapp.export import choices_frame, participants_frame, ratings_frame
from studyapp.models import Participant, Study
from studyapp.randomization import participant_seed
from tests.helpers.survey import start

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def read_invites(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


# --- create_participants ------------------------------------------------------------------------------

def test_create_participants_writes_one_working_link_each(study_factory, folder, client):
    study = study_factory(images=1)
    out = folder / "invites.csv"
    run("create_participants", study=study.slug, count=12, out=out, base_url="https://study.example.org/")
    rows = read_invites(out)
    participants = list(study.participants.order_by("pseudonym"))
    assert [row["pseudonym"] for row in rows] == [f"P{n:04d}" for n in range(1, 13)] == [
        p.pseudonym for p in participants]
    tokens = [p.invite_token for p in participants]
    assert len(set(tokens)) == 12 and all(len(token) >= 43 for token in tokens)  # 256 bits, URL-safe
    assert [row["invite_url"] for row in rows] == [f"https://study.example.org/i/{t}/" for t in tokens]
    assert [p.seed for p in participants] == [participant_seed(study.seed, k) for k in range(12)]
    text = out.read_text()
    for participant in participants:
        assert participant.user.username not in text and not participant.user.has_usable_password()
    for row, participant in zip(rows[:3], participants):
        response = client.get(row["invite_url"].removeprefix("https://study.example.org"), follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == reverse("studyapp:consent")
        assert response.wsgi_request.user == participant.user
    assert not Participant.objects.filter(consented_at__isnull=False).exists()  # a GET starts nothing


def test_pseudonyms_continue_across_studies_and_seeds_across_batches(study_factory, folder):
    first, second = study_factory(images=1), study_factory(images=1)
    run("create_participants", study=first.slug, count=3, out=folder / "a.csv")
    run("create_participants", study=second.slug, count=2, out=folder / "b.csv")
    run("create_participants", study=first.slug, count=2, out=folder / "c.csv")
    assert [row["pseudonym"] for row in read_invites(folder / "b.csv")] == ["P0004", "P0005"]
    assert [row["pseudonym"] for row in read_invites(folder / "c.csv")] == ["P0006", "P0007"]
    assert read_invites(folder / "c.csv")[0]["invite_url"].startswith("/i/")
    seeds = list(first.participants.order_by("pseudonym").values_list("seed", flat=True))
    assert seeds == [participant_seed(first.seed, k) for k in range(5)]


@pytest.mark.parametrize("options, message", [
    ({"study": "nope", "count": 3}, "No study with slug 'nope'. Known studies: study-1"),
    ({"count": 0}, "--count must be at least 1, got 0"),
    ({"count": -5}, "--count must be at least 1"),
])
def test_create_participants_refuses_bad_input_and_writes_nothing(options, message, study_factory, folder):
    study = study_factory(images=1)
    with pytest.raises(CommandError, match=message):
        run("create_participants", **{"study": study.slug, **options}, out=folder / "invites.csv")
    assert list(folder.iterdir()) == [] and not Participant.objects.exists()


def test_create_participants_refuses_a_base_url_without_scheme(study_factory, folder):
    study = study_factory(images=1)
    with pytest.raises(CommandError, match="expected a URL such as https://study.example.org, got 'study.example"):
        run("create_participants", "--base-url", "study.example.org", study=study.slug, count=2,
            out=folder / "invites.csv")
    assert list(folder.iterdir()) == [] and not Participant.objects.exists()


def test_create_participants_never_overwrites_an_invite_file(study_factory, folder):
    study = study_factory(images=1)
    (folder / "invites.csv").write_text("links already sent")
    with pytest.raises(CommandError, match="exists already"):
        run("create_participants", study=study.slug, count=2, out=folder / "invites.csv")
    with pytest.raises(CommandError, match="does not exist; create it"):
        run("create_participants", study=study.slug, count=2, out=folder / "missing" / "invites.csv")
    assert (folder / "invites.csv").read_text() == "links already sent" and not Participant.objects.exists()


def test_a_failure_half_way_creates_no_one_and_no_file(study_factory, folder, monkeypatch):
    study = study_factory(images=1)
    tokens = iter(["same-token-twice-aaaaaaaaaaaaaaaaaaaaaaaaaaa"] * 2)
    monkeypatch.setattr(enrollment, "mint_invite_token", lambda: next(tokens))  # the database refuses the second
    with pytest.raises(Exception, match="(?i)unique"):
        run("create_participants", study=study.slug, count=5, out=folder / "invites.csv")
    assert list(folder.iterdir()) == []
    assert not Participant.objects.exists() and not get_user_model().objects.exists()


# --- create_demo_study --------------------------------------------------------------------------------

def demo_output(output):
    password = re.search(r"password '([^']+)'", output).group(1)
    links = re.findall(r"^  (P\d+)  (\S+)$", output, flags=re.M)
    return password, links


def logs_in(client, username, password):
    """A password login through the login page, as a browser does (the lock-out counts it); True when it worked."""
    client.post(reverse("studyapp:login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


def test_create_demo_study_needs_stimuli(db):
    with pytest.raises(CommandError, match=r"run `manage.py loaddata stimuli`, `manage.py generate_stimuli` or "
                                           r"`manage.py import_stimuli` first"):
        run("create_demo_study")
    assert not Study.objects.exists()


def test_create_demo_study_is_idempotent_and_its_links_and_account_work(study_factory, client):
    study_factory(images=2)
    first = run("create_demo_study", base_url="http://127.0.0.1:8000")
    password, links = demo_output(first)
    demo = Study.objects.get(slug="demo")
    assert set(demo.stimuli.all()) == set(Stimulus.objects.all()) and demo.stimuli.count() == 6
    assert len(links) == 5 and all(url.startswith("http://127.0.0.1:8000/i/") for _, url in links)
    assert logs_in(client, "researcher", password)
    assert client.get(reverse("admin:studyapp_study_changelist")).status_code == 200
    assert client.get(reverse("studyapp:dashboard")).status_code == 200
    assert client.get(reverse("studyapp:dashboard_study", args=["demo"])).status_code == 200  # its owner
    client.logout()
    response = client.get(links[0][1].removeprefix("http://127.0.0.1:8000"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("studyapp:consent")
    prolific = re.search(r"^  (http://127.0.0.1:8000/s/demo/\?PROLIFIC_PID=\S+)$", first, flags=re.M).group(1)
    assert prolific == ("http://127.0.0.1:8000/s/demo/?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}"
                        "&SESSION_ID={{%SESSION_ID%}}")
    client.logout()
    trying = prolific.removeprefix("http://127.0.0.1:8000").replace("{{%PROLIFIC_PID%}}", "tester1") \
        .replace("{{%STUDY_ID%}}", "demo1").replace("{{%SESSION_ID%}}", "try1")
    assert client.get(trying, follow=True).redirect_chain[-1][0] == reverse("studyapp:consent")
    assert demo.participants.get(external_id="tester1").source == "prolific"
    demo.participants.filter(external_id="tester1").delete()

    study_factory(images=1)  # stimuli loaded since: the demo study takes them up
    second_password, second_links = demo_output(run("create_demo_study", base_url="http://127.0.0.1:8000"))
    assert Study.objects.filter(slug="demo").count() == 1 and demo.stimuli.count() == 9
    assert second_links == links and demo.participants.count() == 5
    assert get_user_model().objects.filter(username="researcher").count() == 1
    client.logout()
    assert not logs_in(client, "researcher", password)
    assert logs_in(client, "researcher", second_password)


def test_create_demo_study_works_from_imported_maps_alone(study_factory, client):
    """Only a researcher's imported maps (no Vanilla Gradient): the demo study shows them, and a participant starts."""
    study_factory(images=2, variants=("resnet50", "vit"), methods=("LRP",), dataset="my-photos", slug="imported")
    out = run("create_demo_study", base_url="http://127.0.0.1:8000")
    demo = Study.objects.get(slug="demo")
    assert set(demo.stimuli.all()) == set(Stimulus.objects.all()) and demo.stimuli.count() == 4
    assert "Demo study 'demo' created: 4 stimuli" in out
    demo.full_clean()
    _, links = demo_output(out)
    assert start(client, demo.participants.get(pseudonym=links[0][0])).startswith("/trial/")


def test_researcher_is_staff_but_not_superuser(study_factory):
    study_factory(images=1)
    run("create_demo_study")
    researcher = get_user_model().objects.get(username="researcher")
    assert researcher.is_staff and not researcher.is_superuser
    assert researcher.has_perm("studyapp.view_likertresponse") and not researcher.has_perm("auth.add_user")


# --- simulate_participants ----------------------------------------------------------------------------

def test_simulation_completes_everyone_through_the_views_and_shows_the_configured_effect(study_factory):
    study = study_factory(images=3, comparison_count=2)
    output = run("simulate_participants", study=study.slug, count=8, seed=0, means="N=1.5,A=3,M2=4.5",
                 sd=0.6, choice_weights="N=1,A=2,M2=12")
    assert "Simulated 8 of 8 participants" in output
    participants = participants_frame(study)
    assert len(participants) == 8 and participants["completed_at"].notna().all()
    assert (participants["attention_passed"] == participants["attention_total"]).all()
    assert set(participants["degree"]) <= {"none", "secondary", "bachelor", "master", "doctorate", "other"}
    ratings = ratings_frame(study)
    assert len(ratings) == 8 * 9 and ratings.groupby("participant")["trial"].apply(sorted).map(
        lambda t: t == list(range(1, 10))).all()
    means = ratings.groupby("model")[["sufficiency", "trust"]].mean()
    for statement in ("sufficiency", "trust"):
        assert means.loc["M2", statement] > means.loc["A", statement] + 1 > means.loc["N", statement] + 2
    choices = choices_frame(study)
    assert len(choices) == 8 * 2 and (choices["chosen_model"] == "M2").mean() > 0.6
    assert choices["justification"].str.len().gt(0).all()


def test_a_model_x_method_study_is_rehearsed_with_method_and_cell_effects(study_factory):
    """--means plus --method-effects for every cell, --cell-means over them for one; choices by cell weights."""
    study = study_factory(images=4, variants=("N", "M2"), methods=("VG", "IG", "SG"), comparison="methods",
                          comparison_count=4)
    run("simulate_participants", study=study.slug, count=6, seed=3, means="N=2,M2=3", sd=0.3,
        method_effects="IG=1,SG=2", cell_means="M2:SG=1", choice_weights="N:IG=30,M2:IG=30")
    ratings = ratings_frame(study)
    means = ratings.groupby(["model", "method"], observed=True)["trust"].mean().round().to_dict()
    assert means == {("N", "VG"): 2, ("N", "IG"): 3, ("N", "SG"): 4, ("M2", "VG"): 3, ("M2", "IG"): 4,
                     ("M2", "SG"): 1}
    choices = choices_frame(study)
    assert len(choices) == 6 * 4 and (choices["chosen_method"] == "IG").mean() > 0.8


def test_simulation_is_reproducible_from_its_seed(study_factory):
    """Two copies of one study (same seed, same images in the same order) rehearsed with one seed answer alike."""
    answers = []
    for _ in range(2):
        study = study_factory(images=2, seed=77)
        run("simulate_participants", study=study.slug, count=3, seed=5, means="M2=4", sd=1.5)
        ratings = ratings_frame(study)
        image_rank = {image: rank for rank, image in enumerate(sorted(set(ratings["image"]),
                                                                      key=lambda i: int(i.split("-")[1])))}
        ratings["image"] = ratings["image"].map(image_rank)
        answers.append(ratings[["trial", "image", "model", "sufficiency", "trust"]].values.tolist())
    assert answers[0] == answers[1]
    assert len({tuple(row[3:]) for row in answers[0]}) > 3  # not one constant answer


def test_attention_failures_are_simulated_and_exported(study_factory):
    study = study_factory(images=2)
    run("simulate_participants", study=study.slug, count=6, seed=1, attention_failure_rate=0.5)
    participants = participants_frame(study)
    assert participants["attention_total"].eq(2).all()
    assert 0 < participants["attention_passed"].sum() < 12


def test_simulation_follows_a_completion_redirect_and_works_with_production_settings(study_factory, settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["study.example.org"]
    settings.SECURE_SSL_REDIRECT = True  # plain HTTP would only ever be redirected
    study = study_factory(images=1, completion_redirect_url="https://panel.example.com/done?code=ABC")
    output = run("simulate_participants", study=study.slug, count=2, seed=0)
    assert "Simulated 2 of 2 participants" in output
    assert study.participants.filter(completed_at__isnull=False).count() == 2


@pytest.mark.parametrize("options, message", [
    ({"count": 0}, "--count must be at least 1"),
    ({"means": "N=2,G=4"}, "--means names model\\(s\\) G, which study 'study-1' does not have; its models are A, "
                           "M2, N, its methods VG and its cells A:VG, M2:VG, N:VG"),
    ({"choice_weights": "M2=x"}, "--choice-weights: 'x' for model or cell M2 is not a number"),
    ({"cell_means": "N:VG=2,N:LRP=3"}, "--cell-means names cell\\(s\\) N:LRP, which study 'study-1' does not have"),
    ({"cell_means": "N=2"}, "--cell-means: 'N' is not a cell; write MODEL×METHOD or MODEL:METHOD"),
    ({"method_effects": "IG=0.5"}, "--method-effects names method\\(s\\) IG, which study 'study-1' does not have"),
    ({"choice_weights": "A:SG=2"}, "--choice-weights names model or cell\\(s\\) A:SG, which study"),
    ({"attention_failure_rate": 2.0}, "within 0-1"),
    ({"study": "nope"}, "No study with slug 'nope'"),
])
def test_simulation_refuses_bad_options_and_creates_nothing(options, message, study_factory):
    study = study_factory(images=1)
    with pytest.raises(CommandError, match=message):
        run("simulate_participants", **{"study": study.slug, "count": 2, **options})
    assert not Participant.objects.exists()


def test_the_commands_as_a_researcher_runs_them_on_a_database_file(tmp_path):
    """manage.py in a subprocess on an SQLite file: connections really close there, unlike the test database."""
    stimuli = tmp_path / "stimuli"
    stimuli.mkdir()
    records = []
    for image in range(2):
        Image.new("L", (8, 8), color=image * 40).save(stimuli / f"img{image}.png")
        records.append({"model": "saliency.sourceimage", "pk": image + 1, "fields": {
            "dataset": "fmnist", "test_index": image, "class_name": "Sandal", "image": f"img{image}.png"}})
        for offset, variant in enumerate(("N", "A", "M2")):
            Image.new("L", (8, 8), color=image * 40 + offset).save(stimuli / f"map{image}{variant}.png")
            records.append({"model": "saliency.stimulus", "pk": image * 3 + offset + 1, "fields": {
                "source_image": image + 1, "variant": variant, "heatmap": f"map{image}{variant}.png",
                "predicted_class": "Sandal", "confidence": 0.9, "preset": "test", "checkpoint": "test.pt"}})
    (tmp_path / "tiny.json").write_text(json.dumps(records))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "STIMULI_ROOT": str(stimuli),
           "DEBUG": "1"}

    def manage(*args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    manage("migrate", "--no-input", "-v", "0")
    manage("loaddata", str(tmp_path / "tiny.json"))
    assert "Participant invite links" in manage("create_demo_study")
    assert "Simulated 3 of 3 participants" in manage("simulate_participants", "--study", "demo", "--count", "3",
                                                     "--means", "N=1,M2=5", "--sd", "0")
    manage("export_responses", "--study", "demo", "--out", str(tmp_path / "export"))
    ratings = pd.read_csv(tmp_path / "export" / "ratings.csv")
    assert len(ratings) == 3 * 6
    assert ratings.groupby("model")["trust"].mean().to_dict() == {"A": 3.0, "M2": 5.0, "N": 1.0}
