"""Attention checks drawn before they showed a stimulus get the ones their participant's seed draws now."""

from django.db import migrations


def show_a_stimulus_on_attention_pages(apps, schema_editor):
    from studyapp.randomization import StimulusRef, attention_stimuli

    Trial = apps.get_model("studyapp", "Trial")
    checks = Trial.objects.filter(kind="attention", stimulus__isnull=True).select_related("participant__study")
    by_participant = {}
    for check in checks.order_by("participant", "position"):
        by_participant.setdefault(check.participant, []).append(check)
    for participant, pages in by_participant.items():
        refs = [StimulusRef(*row) for row in participant.study.stimuli.values_list("pk", "source_image_id", "variant")]
        for page, stimulus in zip(pages, attention_stimuli(refs, participant.seed)):
            page.stimulus_id = stimulus
            page.save(update_fields=["stimulus"])


class Migration(migrations.Migration):

    dependencies = [
        ("studyapp", "0005_consent_versions_withdrawal_erasure"),
    ]

    operations = [
        migrations.RunPython(show_a_stimulus_on_attention_pages, migrations.RunPython.noop),
    ]
