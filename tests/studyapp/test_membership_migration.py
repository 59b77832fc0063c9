"""The upgrade to study members: whoever added a study in the admin owns it, a pilot copy gets its original's members,
and a study nobody is known to have made gets no member (superusers only, and the admin says so)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERS = "memberships_api_tokens_access_log"


def membership_migration():
    """(studyapp, the migration that brings members) and the one before it, by name (their numbers may change)."""
    graph = MigrationExecutor(connection).loader.graph
    (target,) = [key for key in graph.nodes if key[0] == "studyapp" and key[1].endswith(MEMBERS)]
    (before,) = [parent for parent in graph.node_map[target].parents if parent.key[0] == "studyapp"]
    return target, before.key


@pytest.fixture
def back_to_today():
    """Whatever the test migrated to, the database ends at today's migrations."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_creators_own_their_studies_and_pilot_copies_keep_the_team(back_to_today):
    target, before = membership_migration()
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "studyapp"]
    old = executor.loader.project_state([before, *others]).apps
    User, Study = old.get_model("auth", "User"), old.get_model("studyapp", "Study")
    ContentType, LogEntry = old.get_model("contenttypes", "ContentType"), old.get_model("admin", "LogEntry")
    Permission = old.get_model("auth", "Permission")
    ada = User.objects.create(username="ada", is_staff=True)
    gone = User.objects.create(username="gone", is_staff=True, is_active=False)
    made = Study.objects.create(slug="made-in-admin", title="Made in the admin", seed=1)
    copy = Study.objects.create(slug="made-in-admin-pilot", title="Pilot", seed=1, copied_from=made)
    by_gone = Study.objects.create(slug="by-a-disabled-account", title="Old", seed=2)
    unknown = Study.objects.create(slug="from-a-command", title="Loaded", seed=3)
    kind, _ = ContentType.objects.get_or_create(app_label="studyapp", model="study")
    for study, user in ((made, ada), (by_gone, gone)):
        LogEntry.objects.create(content_type=kind, object_id=str(study.pk), object_repr=study.title, action_flag=1,
                                user=user, change_message="[]")
    erase, _ = Permission.objects.get_or_create(content_type=ContentType.objects.get_or_create(
        app_label="studyapp", model="participant")[0], codename="erase_participant",
        defaults={"name": "Can erase a participant's answers and background"})
    ada.user_permissions.add(erase)

    executor = MigrationExecutor(connection)
    executor.migrate([target])
    new = executor.loader.project_state([target, *others]).apps
    Membership = new.get_model("studyapp", "Membership")
    members = {(m.study.slug, m.user.username, m.role) for m in Membership.objects.select_related("study", "user")}
    assert members == {("made-in-admin", "ada", "owner"), ("made-in-admin-pilot", "ada", "owner")}
    assert not Membership.objects.filter(study_id__in=[by_gone.pk, unknown.pk]).exists()
    assert not new.get_model("auth", "Permission").objects.filter(codename="erase_participant").exists()
    assert copy.pk in Membership.objects.values_list("study_id", flat=True)
