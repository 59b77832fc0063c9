"""The upgrade to stimuli with targets (issue 29): every stored map explains its model's prediction, rank 1; going
back is refused while maps of other ranks are stored."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

TARGETS = "stimulus_targets_top_classes"


def targets_migration():
    """(saliency, the migration that brings targets) and the one before it, by name (their numbers may change)."""
    graph = MigrationExecutor(connection).loader.graph
    (target,) = [key for key in graph.nodes if key[0] == "saliency" and key[1].endswith(TARGETS)]
    (before,) = [parent for parent in graph.node_map[target].parents if parent.key[0] == "saliency"]
    return target, before.key


@pytest.fixture
def back_to_today():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _apps(executor, node):
    others = [leaf for leaf in executor.loader.graph.leaf_nodes() if leaf[0] != "saliency"]
    return executor.loader.project_state([node, *others]).apps


def test_stored_maps_explain_their_prediction_and_going_back_keeps_them(back_to_today):
    target, before = targets_migration()
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = _apps(executor, before)
    source = old.get_model("saliency", "SourceImage").objects.create(dataset="fmnist", test_index=7,
                                                                     class_name="Shirt", image="stimuli/a.png")
    Stimulus = old.get_model("saliency", "Stimulus")
    Stimulus.objects.create(source_image=source, variant="N", method="VG", heatmap="stimuli/b.png",
                            predicted_class="Coat", confidence=0.61)
    Stimulus.objects.create(source_image=source, variant="LRP-net", method="LRP", heatmap="stimuli/c.png")

    executor = MigrationExecutor(connection)
    executor.migrate([target])
    new = _apps(executor, target).get_model("saliency", "Stimulus")
    assert sorted(new.objects.values_list("variant", "target_rank", "target_class", "target_probability",
                                          "top_classes", "top_probabilities")) == [
        ("LRP-net", 1, "", None, [], []), ("N", 1, "Coat", 0.61, [], [])]

    executor = MigrationExecutor(connection)
    executor.migrate([before])  # only maps of rank 1: back to one map per image, model and method
    assert _apps(executor, before).get_model("saliency", "Stimulus").objects.count() == 2

    executor = MigrationExecutor(connection)
    executor.migrate([target])
    new = _apps(executor, target).get_model("saliency", "Stimulus")
    new.objects.create(source_image_id=source.pk, variant="N", method="VG", heatmap="stimuli/d.png",
                       predicted_class="Coat", confidence=0.61, target_class="Shirt", target_rank=2)
    with pytest.raises(RuntimeError, match="1 stored maps explain a class other than the prediction"):
        MigrationExecutor(connection).migrate([before])
