"""A study's task blocks, task conditions and bonus (issue 29) in the admin and in the study file."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from studyapp import access, pilot, studyfile
from studyapp.models import Block, Role, Study, TaskCondition
from studyapp.studyfile import StudyFileError
from tests.helpers.admin import added_rows, admin_form
from tests.helpers.tasks import take_part, task_study

BLOCKS = [{"kind": "distinction", "top_k": 3, "images": 2, "ask_true_class": True},
          {"kind": "simulation", "images": 2, "learning_images": 2, "learning_guess": True, "show_true_class": True,
           "top_k": 2},
          {"kind": "verification", "images": 2}, {"kind": "rating"}]
CONDITIONS = [("N", "VG"), ("N", ""), ("A", "VG")]


def change_url(study):
    return reverse("admin:studyapp_study_change", args=[study.pk])


def block_rows(study):
    fields = ["position", "kind", "top_k", "images", "learning_images", "learning_guess", "show_true_class",
              "ask_true_class"]
    return list(study.blocks.order_by("position").values_list(*fields))


def condition_rows(study):
    return list(study.task_conditions.order_by("pk").values_list("model", "method"))


def errors_of(response):
    """The study form's and its inlines' errors, as the page shows them."""
    return (response.context["adminform"].form.errors, [
        (inline.formset.non_form_errors(), inline.formset.errors) for inline in response.context["inline_admin_formsets"]])


@pytest.fixture
def tasks(study_factory, write_png):
    return task_study(study_factory, write_png, blocks=BLOCKS, conditions=CONDITIONS, images=10, slug="tasks",
                      bonus_per_correct=Decimal("0.05"), bonus_cap=Decimal("1.50"))


# --- The admin ------------------------------------------------------------------------------------------------

def test_a_researcher_sets_blocks_conditions_and_the_bonus_on_the_study_page(study_factory, admin_client):
    # Closed: its one image has no maps of other classes, so these blocks could not open (test_task_study's refusals).
    study = study_factory(images=1, slug="main", is_open=False)
    page = admin_client.get(change_url(study)).content.decode()
    for expected in ('name="blocks-TOTAL_FORMS"', 'name="task_conditions-TOTAL_FORMS"', 'name="bonus_per_correct"',
                     'name="bonus_cap"', "Blocks (run in order of position)", "Bonus"):
        assert expected in page, expected
    data = added_rows(admin_form(study) | {"bonus_per_correct": "0.10", "bonus_cap": "2.00"}, "blocks", [
        {"position": 1, "kind": "distinction", "top_k": 4, "ask_true_class": True},
        {"position": 2, "kind": "verification", "top_k": 4, "images": 3}])
    data = added_rows(data, "task_conditions", [{"model": "N", "method": "VG"}, {"model": "N", "method": ""}])
    response = admin_client.post(change_url(study), data)
    assert response.status_code == 302, errors_of(response)
    study.refresh_from_db()
    assert (study.bonus_per_correct, study.bonus_cap) == (Decimal("0.10"), Decimal("2.00"))
    assert block_rows(study) == [(1, "distinction", 4, None, None, False, False, True),
                                 (2, "verification", 4, 3, None, False, False, False)]
    assert [(c.model, c.method, c.name) for c in study.task_conditions.order_by("pk")] == [
        ("N", "VG", "N×VG"), ("N", "", "none")]
    assert admin_client.post(change_url(study), admin_form(study)).status_code == 302  # unchanged, saved again


@pytest.mark.parametrize("block, field, message", [
    ({"kind": "distinction", "learning_images": 3}, "learning_images",
     "A distinction block does not use this setting (only simulation blocks do): leave it blank."),
    ({"kind": "verification", "top_k": 2}, "top_k",
     "A verification block does not use this setting (only distinction and simulation blocks do): leave it at 4."),
    ({"kind": "simulation", "ask_true_class": True}, "ask_true_class",
     "A simulation block does not use this setting (only distinction blocks do): leave it unticked."),
    ({"kind": "rating", "images": 5}, "images",
     "A rating block does not use this setting (only distinction, simulation and verification blocks do)"),
    ({"kind": "distinction", "top_k": 5}, "top_k", "Ensure this value is less than or equal to 4."),
    ({"kind": "distinction", "show_true_class": True, "ask_true_class": True}, "ask_true_class",
     "The page shows the true class, so &#x27;Which class is correct?&#x27; would ask what it shows: untick one of "
     "them."),
])
def test_a_setting_the_blocks_kind_does_not_use_is_refused_and_nothing_is_stored(study_factory, admin_client, block,
                                                                                   field, message):
    study = study_factory(images=1, slug="main")
    data = added_rows(admin_form(study) | {"title": "Renamed"}, "blocks", [{"position": 1, "top_k": 4, **block}])
    response = admin_client.post(change_url(study), data)
    assert response.status_code == 200 and message in response.content.decode()
    blocks = next(inline.formset for inline in response.context["inline_admin_formsets"]
                  if inline.formset.prefix == "blocks")
    assert field in blocks.errors[0]
    study.refresh_from_db()
    assert study.title != "Renamed" and not Block.objects.exists()


def test_two_blocks_in_one_place_two_equal_conditions_and_a_cap_alone_are_refused(study_factory, admin_client):
    study = study_factory(images=1, slug="main")
    data = added_rows(admin_form(study) | {"bonus_cap": "1.00"}, "blocks", [
        {"position": 1, "kind": "distinction", "top_k": 4}, {"position": 1, "kind": "verification", "top_k": 4}])
    data = added_rows(data, "task_conditions", [{"model": "N", "method": "VG"}, {"model": "N", "method": "VG"}])
    response = admin_client.post(change_url(study), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Please correct the duplicate data for position." in page
    assert "Please correct the duplicate data for model and method, which must be unique." in page
    assert "Set the bonus per right answer above chance too, or leave the cap blank" in page
    assert not Block.objects.exists() and not TaskCondition.objects.exists()


def test_blocks_and_conditions_participants_took_part_under_stay_as_they_saw_them(tasks, admin_client,
                                                                                 participant_factory):
    take_part(participant_factory(tasks), tasks.task_conditions.get(model="N", method="VG"))
    before = (block_rows(tasks), condition_rows(tasks))
    data = admin_form(tasks)
    number = next(key.split("-")[1] for key, value in data.items()
                  if key.startswith("blocks-") and key.endswith("-position") and value == 1)
    changed = data | {f"blocks-{number}-top_k": 2}
    response = admin_client.post(change_url(tasks), changed)
    assert response.status_code == 200
    assert "Participants already took part under tasks block 1 (distinction): it stays as they saw it." in (
        response.content.decode())
    deleted = data | {f"blocks-{number}-DELETE": "on"}
    response = admin_client.post(change_url(tasks), deleted)
    assert response.status_code == 200 and "would require deleting the following protected related objects" in (
        response.content.decode())
    used = next(key.split("-")[1] for key, value in data.items()
                if key.startswith("task_conditions-") and key.endswith("-method") and value == "VG"
                and data[key.replace("method", "model")] == "N")
    response = admin_client.post(change_url(tasks), data | {f"task_conditions-{used}-method": "IG"})
    assert response.status_code == 200 and "Participants already took part under N×VG" in response.content.decode()
    assert (block_rows(tasks), condition_rows(tasks)) == before
    unused = f"task_conditions-{int(used) + 2}-method"  # A×VG: nobody took part under it
    response = admin_client.post(change_url(tasks), data | {unused: "IG"})  # the open study has no IG maps
    assert "Task condition A×IG needs the study's maps of model A by IG" in opening_errors(response)
    assert admin_client.post(change_url(tasks), data | {unused: ""}).status_code == 302
    assert condition_rows(tasks)[2] == ("A", "")


def test_an_editor_changes_the_blocks_and_an_analyst_only_sees_them(tasks):
    users = {role: get_user_model().objects.create_user(role, password="a-long-passphrase", is_staff=True)
             for role in (Role.EDITOR, Role.ANALYST)}
    for role, user in users.items():
        access.grant(tasks, user, role)
    editor, analyst = Client(), Client()
    editor.force_login(users[Role.EDITOR])
    analyst.force_login(users[Role.ANALYST])
    shown = analyst.get(change_url(tasks)).content.decode()
    assert "Verification: accept or reject the model&#x27;s label" in shown and 'name="blocks-0-kind"' not in shown
    assert 'name="blocks-0-kind"' in editor.get(change_url(tasks)).content.decode()
    data = admin_form(tasks) | {"blocks-2-images": 1}  # the third block made: the verification block
    data.update({"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    response = editor.post(change_url(tasks), data)
    assert response.status_code == 302, errors_of(response)
    assert tasks.blocks.get(kind="verification").images == 1


def test_a_pilot_copy_has_the_studys_blocks_conditions_and_bonus(tasks):
    copy = pilot.pilot_copy(tasks)
    assert block_rows(copy) == block_rows(tasks) and condition_rows(copy) == condition_rows(tasks)
    assert (copy.bonus_per_correct, copy.bonus_cap) == (Decimal("0.05"), Decimal("1.50"))
    assert block_rows(tasks) and tasks.blocks.count() == 4  # the original keeps its own


# --- Opening with the blocks and conditions of the same save ----------------------------------------------------

def stored(study):
    study.refresh_from_db()
    return study.is_open, block_rows(study), condition_rows(study)


def opening_errors(response):
    """The study form's errors other than its fields' (the opening checks' problems), as the page shows them."""
    assert response.status_code == 200, response.status_code
    return " ".join(response.context["adminform"].form.non_field_errors())


@pytest.fixture
def closed(study_factory, write_png):
    """A closed study of 10 images with model N's top-4 maps by VG, its one condition N×VG and no blocks yet."""
    return task_study(study_factory, write_png, blocks=[], conditions=[("N", "VG")], images=10, slug="closed",
                      is_open=False)


@pytest.mark.parametrize("block, missing", [
    ({"kind": "distinction", "top_k": 4, "images": 2},
     "Block 1 (distinction) can show none of the study's images under condition N×VG: 10 image(s) lack the maps of "
     "the classes offered."),
    ({"kind": "simulation", "top_k": 4, "images": 8, "learning_images": 4},
     "Block 1 (simulation) asks for 4 learning and 8 test pages, each on another image, but under condition N×VG "
     "only 10 of the study's images can be shown."),
])
def test_opening_with_an_unrunnable_block_added_in_the_same_save_is_refused_and_nothing_is_stored(
        closed, admin_client, block, missing):
    if block["kind"] == "distinction":
        closed.stimuli.remove(*closed.stimuli.filter(target_rank=4))
    before = stored(closed)
    data = added_rows(admin_form(closed) | {"is_open": "on", "title": "Renamed"}, "blocks", [{"position": 1, **block}])
    response = admin_client.post(change_url(closed), data)
    assert missing in opening_errors(response)
    assert stored(closed) == before and closed.title != "Renamed" and not closed.is_open


def test_opening_with_a_condition_without_maps_added_in_the_same_save_is_refused(closed, admin_client):
    Block.objects.create(study=closed, position=1, kind="verification", images=4)
    before = stored(closed)
    data = added_rows(admin_form(closed) | {"is_open": "on"}, "task_conditions", [{"model": "N", "method": "IG"}])
    response = admin_client.post(change_url(closed), data)
    assert ("Task condition N×IG needs the study's maps of model N by IG, and the study has none: add those stimuli, "
            "or change the condition." in opening_errors(response))
    assert stored(closed) == before


def test_an_open_study_that_deletes_its_last_condition_is_refused(closed, admin_client):
    Block.objects.create(study=closed, position=1, kind="verification", images=4)
    Study.objects.filter(pk=closed.pk).update(is_open=True)
    before = stored(closed)
    response = admin_client.post(change_url(closed), admin_form(closed) | {"task_conditions-0-DELETE": "on"})
    assert ("Block 1 (verification) has a right answer, but the study has no task conditions: add at least one"
            in opening_errors(response))
    assert stored(closed) == before


def test_a_closed_study_saves_the_block_it_could_not_open_with(closed, admin_client):
    closed.stimuli.remove(*closed.stimuli.filter(target_rank=4))
    data = added_rows(admin_form(closed), "blocks", [{"position": 1, "kind": "distinction", "top_k": 4}])
    response = admin_client.post(change_url(closed), data)
    assert response.status_code == 302, errors_of(response)
    assert stored(closed) == (False, [(1, "distinction", 4, None, None, False, False, False)], [("N", "VG")])


def test_a_study_opens_on_the_blocks_and_conditions_of_the_same_save_and_participants_start(
        closed, admin_client, participant_factory):
    Block.objects.create(study=closed, position=1, kind="simulation", images=20, learning_images=20)  # stored unrunnable
    data = admin_form(closed) | {"is_open": "on", "blocks-0-images": 3, "blocks-0-learning_images": 3}
    data = added_rows(data, "blocks", [{"position": 2, "kind": "distinction", "top_k": 3, "images": 2},
                                       {"position": 3, "kind": "verification", "top_k": 4, "images": 2}])
    data = added_rows(data, "task_conditions", [{"model": "N", "method": ""}])
    response = admin_client.post(change_url(closed), data)
    assert response.status_code == 302, errors_of(response)
    assert stored(closed) == (True, [(1, "simulation", 4, 3, 3, False, False, False),
                                     (2, "distinction", 3, 2, None, False, False, False),
                                     (3, "verification", 4, 2, None, False, False, False)],
                              [("N", "VG"), ("N", "")])
    participant = participant_factory(closed)
    client = Client()
    client.get(f"/i/{participant.invite_token}/")
    started = client.post("/consent/", {"agree": "on", "consent_version": "1"})
    assert started.status_code == 303, started.status_code
    participant.refresh_from_db()
    assert participant.task_condition.name == "N×VG"
    assert participant.trials.filter(kind="simulation").count() == 3 + 3  # the edited block's learning and test
    assert client.get(started.url).status_code == 200


def test_a_new_study_opens_on_the_blocks_and_conditions_it_is_added_with_or_is_not_added(closed, admin_client):
    TaskCondition.objects.all().delete()  # the new study's form: closed's settings and stimuli, no rows of its own
    closed.stimuli.remove(*closed.stimuli.filter(target_rank=4))
    data = admin_form(closed) | {"slug": "new", "title": "New", "is_open": "on"}
    data = added_rows(data, "task_conditions", [{"model": "N", "method": "VG"}])
    unrunnable = added_rows(data, "blocks", [{"position": 1, "kind": "distinction", "top_k": 4}])
    response = admin_client.post(reverse("admin:studyapp_study_add"), unrunnable)
    assert "Block 1 (distinction) can show none of the study's images under condition N×VG" in opening_errors(response)
    assert not Study.objects.filter(slug="new").exists() and not Block.objects.exists()
    runnable = added_rows(data, "blocks", [{"position": 1, "kind": "distinction", "top_k": 3}])
    response = admin_client.post(reverse("admin:studyapp_study_add"), runnable)
    assert response.status_code == 302, errors_of(response)
    assert stored(Study.objects.get(slug="new")) == (True, [(1, "distinction", 3, None, None, False, False, False)],
                                                     [("N", "VG")])


def test_a_new_study_posted_with_another_studys_rows_is_answered_with_the_form_not_a_500(closed, admin_client):
    """A hand-made post whose rows carry the ids of another study's rows: the rows are not the new study's, the
    form says so and nothing is added."""
    data = admin_form(closed) | {"slug": "new", "title": "New"}
    response = admin_client.post(reverse("admin:studyapp_study_add"), data)
    assert response.status_code == 200
    assert "The inline value did not match the parent instance." in str(errors_of(response))
    assert not Study.objects.filter(slug="new").exists()


# --- The study file -------------------------------------------------------------------------------------------

def test_blocks_conditions_and_the_bonus_go_through_the_study_file_and_back_identical(tasks, tmp_path):
    expected = (block_rows(tasks), condition_rows(tasks), tasks.bonus_per_correct, tasks.bonus_cap)
    first = tmp_path / "first.toml"
    call_command("export_study", "tasks", str(first), stdout=io.StringIO())
    text = first.read_text()
    assert "[bonus]\nbonus_per_correct = 0.05\nbonus_cap = 1.5\n" in text
    assert ('[[blocks]]\nposition = 2\nkind = "simulation"\ntop_k = 2\nimages = 2\nlearning_images = 2\n'
            "learning_guess = true\nshow_true_class = true\nask_true_class = false\n") in text
    assert '[[task_conditions]]\nmodel = "N"\nmethod = ""\n' in text
    Study.objects.all().delete()
    call_command("create_study", str(first), stdout=io.StringIO())
    created = Study.objects.get()
    assert (block_rows(created), condition_rows(created), created.bonus_per_correct, created.bonus_cap) == expected
    second = tmp_path / "second.toml"
    call_command("export_study", "tasks", str(second), stdout=io.StringIO())
    assert second.read_bytes() == first.read_bytes()


def test_a_condition_without_its_method_key_is_the_control(tasks):
    text = studyfile.dump(tasks).replace('slug = "tasks"', 'slug = "fresh"').replace(
        'model = "N"\nmethod = ""\n', 'model = "N"\n')
    assert condition_rows(studyfile.create_study(text)) == CONDITIONS


def test_bad_blocks_conditions_and_bonus_are_named_by_their_entry_and_nothing_is_written(tasks):
    text = studyfile.dump(tasks).replace('slug = "tasks"', 'slug = "fresh"')
    broken = (text.replace("bonus_per_correct = 0.05", "bonus_per_correct = 0.055")
              .replace("bonus_cap = 1.5", 'bonus_cap = "lots"')
              .replace('kind = "verification"\ntop_k = 4', 'kind = "verification"\ntop_k = 3')
              .replace("position = 4", "position = 2")
              .replace('kind = "rating"', 'kind = "ratings"')
              .replace("learning_guess = true", "learning_guess = 1")
              + '\n[[task_conditions]]\nmodel = "A"\nmethod = "VG"\n'
              + '\n[[task_conditions]]\nmethod = "IG"\ncolour = "red"\n')
    before = (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count())
    with pytest.raises(StudyFileError) as raised:
        studyfile.create_study(broken)
    message = str(raised.value)
    for expected in (
        "bonus.bonus_per_correct: Ensure that there are no more than 2 decimal places.",
        'bonus.bonus_cap: expected an amount such as 0.05, got "lots".',
        "blocks[3].top_k: A verification block does not use this setting (only distinction and simulation blocks "
        "do): leave it at 4.",
        "blocks[4].kind: Value 'ratings' is not a valid choice.",
        "blocks[2].learning_guess: expected true or false, got 1.",
        "blocks[4]: position = 2 again (blocks[2] has it); each of a study's blocks needs its own.",
        "task_conditions[4]: model = \"A\", method = \"VG\" again (task_conditions[3] has it)",
        "task_conditions[5]: unknown key 'colour'.",
        "task_conditions[5].model: missing; this key is required.",
    ):
        assert expected in message, (expected, message)
    assert (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count()) == before


def test_a_distinction_block_that_shows_the_true_class_and_asks_for_it_is_refused_and_nothing_is_written(tasks):
    text = studyfile.dump(tasks).replace('slug = "tasks"', 'slug = "fresh"')
    asking = "show_true_class = false\nask_true_class = true\n"  # the distinction block's
    assert text.count(asking) == 1
    before = (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count())
    with pytest.raises(StudyFileError) as raised:
        studyfile.create_study(text.replace(asking, asking.replace("show_true_class = false", "show_true_class = true")))
    assert ("blocks[1].ask_true_class: The page shows the true class, so 'Which class is correct?' would ask what it "
            "shows: untick one of them.") in str(raised.value)
    assert (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count()) == before


def test_a_study_file_opens_a_study_on_its_own_blocks_and_conditions(tasks):
    """The opening checks see the file's blocks and conditions (the study is not saved yet, so it has none stored)."""
    text = studyfile.dump(tasks).replace('slug = "tasks"', 'slug = "fresh"')
    assert "is_open = true" in text
    before = (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count())
    unrunnable = {
        "images = 2\nlearning_images = 2": "images = 9\nlearning_images = 9",  # the simulation block's pages
        '[[task_conditions]]\nmodel = "A"\nmethod = "VG"': '[[task_conditions]]\nmodel = "A"\nmethod = "IG"',
    }
    broken = text
    for old, new in unrunnable.items():
        assert broken.count(old) == 1
        broken = broken.replace(old, new)
    with pytest.raises(StudyFileError) as raised:
        studyfile.create_study(broken)
    message = str(raised.value)
    for expected in ("study: Block 2 (simulation) asks for 9 learning and 9 test pages, each on another image, but "
                     "under condition N×VG only 10 of the study's images can be shown.",
                     "study: Task condition A×IG needs the study's maps of model A by IG, and the study has none"):
        assert expected in message, (expected, message)
    assert (Study.objects.count(), Block.objects.count(), TaskCondition.objects.count()) == before
    without_conditions = text.split("[[task_conditions]]")[0]
    with pytest.raises(StudyFileError, match=r"study: Block 1 \(distinction\) has a right answer, but the study has no "
                                             "task conditions"):
        studyfile.create_study(without_conditions)
    closed = studyfile.create_study(broken.replace("is_open = true", "is_open = false"))
    assert (closed.slug, closed.blocks.get(position=2).images, condition_rows(closed)[2]) == ("fresh", 9, ("A", "IG"))
    assert studyfile.create_study(text.replace('slug = "fresh"', 'slug = "opened"')).is_open


def test_a_study_without_blocks_writes_no_block_or_condition_table(study_factory):
    text = studyfile.dump(study_factory(images=1))
    assert "[[blocks]]" not in text and "[[task_conditions]]" not in text
    assert "[bonus]\n# bonus_per_correct: not set\n# bonus_cap: not set\n" in text
