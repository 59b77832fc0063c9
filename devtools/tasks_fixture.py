"""Make fixtures/tasks.json, the tasks demo's maps (issue 29), from a generate_stimuli run.

    cp -r fixtures/models /tmp/tasks-models
    nice manage.py generate_stimuli --datasets fmnist --models N A M2 --images-per-dataset 32 --preset cpu \\
        --device cpu --seed 29 --checkpoints /tmp/tasks-models --out /tmp/tasks --threads 1 \\
        --targets top-k 4 --error-share 0.5
    .venv/bin/python -m devtools.tasks_fixture /tmp/tasks

The run must hold, for every image, the VG maps of the top-4 classes of N, A and M2 made by the shipped checkpoints;
an image it shares with fixtures/stimuli.json must be recorded as there, and none of its maps may be one that
stimuli.json or methods.json ship (loaddata never overwrites a stored record: it would refuse the second). That is
checked first, and nothing is written otherwise. tasks.json then holds the run's records as they are (natural keys,
the run's seeded order: loaddata numbers them after those of stimuli.json and methods.json), and their PNGs are
copied into fixtures/stimuli/ (content-named).
"""

import sys

from devtools.methods_fixture import by_model, write_from_run

SHIPPED = ("stimuli.json", "methods.json")
MODELS, METHOD, TOP_K = ("N", "A", "M2"), "VG", 4  # the command above
SHIPPED_CHECKPOINTS = {model: f"fmnist-{model}-cpu.pt" for model in MODELS}


def cell(fields):
    """A stimulus's natural key: its image's (dataset, PNG), model, method and target rank."""
    return (*fields["source_image"], fields["variant"], fields["method"], fields.get("target_rank", 1))


def tasks_records(made, shipped):
    """The run's records as tasks.json holds them; ValueError naming what the run lacks or shares with `shipped`
    (the records of the shipped fixtures)."""
    sources, stimuli = by_model(made, "saliency.sourceimage"), by_model(made, "saliency.stimulus")
    expected = {(s["dataset"], s["image"], model, METHOD, rank) for s in sources for model in MODELS
                for rank in range(1, TOP_K + 1)}
    made_cells = [cell(s) for s in stimuli]
    if sorted(made_cells) != sorted(expected) or any(
            s["checkpoint"] != SHIPPED_CHECKPOINTS[s["variant"]] for s in stimuli):
        raise ValueError(f"the run is not the {METHOD} maps of the top-{TOP_K} classes of {', '.join(MODELS)} "
                         "by the shipped checkpoints: run the command in devtools/tasks_fixture.py")
    shipped_sources = {(s["dataset"], s["image"]): s for s in by_model(shipped, "saliency.sourceimage")}
    for source in sources:
        other = shipped_sources.get((source["dataset"], source["image"]))
        if other is not None and other != source:
            raise ValueError(f"image {source['image']} is recorded otherwise in the shipped fixtures: {other}")
    shared = sorted(set(made_cells) & {cell(s) for s in by_model(shipped, "saliency.stimulus")})
    if shared:
        raise ValueError(f"the run remakes maps the shipped fixtures hold ({shared[:5]}): loaddata would refuse "
                         "tasks.json after them; run it with another --seed")
    return made


def main(argv):
    return write_from_run(argv, __doc__, "tasks.json", SHIPPED, tasks_records)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
