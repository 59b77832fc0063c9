"""The upgrade to study members: whoever added a study in the admin owns it, a pilot copy gets its original's members,
and a study nobody is known to have made gets no member (superusers only, and the admin says so)."""

import pytest

from tests.helpers.migrations import migrate_to, migration_and_before

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERS = "memberships_api_tokens_access_log"


def test_creators_own_their_studies_and_pilot_copies_keep_the_team(back_to_today):
    target, before = migration_and_before("studyapp", MEMBERS)
    old = migrate_to(before)
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

    new = migrate_to(target)
    Membership = new.get_model("studyapp", "Membership")
    members = {(m.study.slug, m.user.username, m.role) for m in Membership.objects.select_related("study", "user")}
    assert members == {("made-in-admin", "ada", "owner"), ("made-in-admin-pilot", "ada", "owner")}
    assert not Membership.objects.filter(study_id__in=[by_gone.pk, unknown.pk]).exists()
    assert not new.get_model("auth", "Permission").objects.filter(codename="erase_participant").exists()
    assert copy.pk in Membership.objects.values_list("study_id", flat=True)
