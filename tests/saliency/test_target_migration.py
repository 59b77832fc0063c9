"""The upgrade to stimuli with targets (issue 29): every stored map explains its model's prediction, rank 1; going
back is refused while maps of other ranks are stored."""

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from saliency.models import Stimulus as TodaysStimulus
from tests.helpers.migrations import migrate_to, migration_and_before

pytestmark = pytest.mark.django_db(transaction=True)

TARGETS = "stimulus_targets_top_classes"


def test_stored_maps_explain_their_prediction_and_going_back_keeps_them(back_to_today):
    target, before = migration_and_before("saliency", TARGETS)
    old = migrate_to(before)
    source = old.get_model("saliency", "SourceImage").objects.create(dataset="fmnist", test_index=7,
                                                                     class_name="Shirt", image="stimuli/a.png")
    Stimulus = old.get_model("saliency", "Stimulus")
    Stimulus.objects.create(source_image=source, variant="N", method="VG", heatmap="stimuli/b.png",
                            predicted_class="Coat", confidence=0.61)
    Stimulus.objects.create(source_image=source, variant="LRP-net", method="LRP", heatmap="stimuli/c.png")

    new = migrate_to(target).get_model("saliency", "Stimulus")
    assert sorted(new.objects.values_list("variant", "target_rank", "target_class", "target_probability",
                                          "top_classes", "top_probabilities")) == [
        ("LRP-net", 1, "", None, [], []), ("N", 1, "Coat", 0.61, [], [])]

    # only maps of rank 1: back to one map per image, model and method
    assert migrate_to(before).get_model("saliency", "Stimulus").objects.count() == 2

    new = migrate_to(target).get_model("saliency", "Stimulus")
    new.objects.create(source_image_id=source.pk, variant="N", method="VG", heatmap="stimuli/d.png",
                       predicted_class="Coat", confidence=0.61, target_class="Shirt", target_rank=2)
    with pytest.raises(RuntimeError, match="1 stored maps explain a class other than the prediction"):
        migrate_to(before)
    assert new.objects.count() == 3


def test_the_shipped_fixtures_load_again_after_the_upgrade(back_to_today):
    """`make run` after an upgrade: the maps stimuli.json loaded before it are its records still, so loading the
    fixtures again keeps them (same ids) and adds the rest (the tasks maps among them)."""
    target, before = migration_and_before("saliency", TARGETS)
    old = migrate_to(before)
    records = json.loads((Path(settings.BASE_DIR) / "fixtures" / "stimuli.json").read_text())
    source = next(r["fields"] for r in records if r["model"] == "saliency.sourceimage")
    stored = old.get_model("saliency", "SourceImage").objects.create(**source)
    Stimulus = old.get_model("saliency", "Stimulus")
    shipped = [r["fields"] for r in records if r["model"] == "saliency.stimulus"
               and r["fields"]["source_image"] == [source["dataset"], source["image"]]]
    before_ids = {Stimulus.objects.create(source_image=stored, **{k: v for k, v in fields.items()
                                                                  if k != "source_image"}).pk
                  for fields in shipped}

    migrate_to(target)
    call_command("loaddata", "stimuli", "methods", "tasks", stdout=io.StringIO())
    kept = TodaysStimulus.objects.filter(pk__in=before_ids)
    assert len(kept) == len(shipped) == 3
    assert all(s.target_rank == 1 and s.target_class == s.predicted_class for s in kept)
    assert TodaysStimulus.objects.filter(target_rank=4).exists()
