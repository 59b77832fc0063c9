"""Make fixtures/methods.json, the second demo study's IG and SmoothGrad maps, from a generate_stimuli run.

    manage.py generate_stimuli --datasets fmnist --models N A M2 --images-per-dataset 20 --preset cpu \
        --device cpu --seed 0 --checkpoints fixtures/models --out /tmp/methods --threads 1 --methods VG IG SG
    .venv/bin/python devtools/methods_fixture.py /tmp/methods

The run's images and VG stimuli must be exactly those of fixtures/stimuli.json (the same seed and checkpoints
make them): that is checked first, and nothing is written otherwise. methods.json then holds only the other
methods' stimuli, on the images of stimuli.json (load it after stimuli.json), named by natural keys in the run's
seeded order (loaddata numbers them after stimuli.json's); their PNGs are copied into fixtures/stimuli/
(content-named).
"""

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHIPPED_METHOD = "VG"


def by_model(records, model):
    return [r["fields"] for r in records if r["model"] == model]


def cell(fields, sources):
    """(dataset, test index, model, method) of a stimulus record; `sources` maps natural keys to source fields."""
    source = sources[tuple(fields["source_image"])]
    return source["dataset"], source["test_index"], fields["variant"], fields["method"]


def methods_records(made, shipped):
    """The fixture records of `made`'s other methods; ValueError when `made` does not reproduce `shipped`."""
    made_sources, shipped_sources = (by_model(r, "saliency.sourceimage") for r in (made, shipped))
    if made_sources != shipped_sources:
        raise ValueError("the run's source images differ from fixtures/stimuli.json's: use its seed, image count "
                         "and checkpoints")
    sources = {(s["dataset"], s["image"]): s for s in shipped_sources}
    made_stimuli = {cell(f, sources): f for f in by_model(made, "saliency.stimulus")}
    differing = [cell(f, sources) for f in by_model(shipped, "saliency.stimulus")
                 if made_stimuli.get(cell(f, sources)) != f]
    if differing:
        raise ValueError(f"the run's {SHIPPED_METHOD} stimuli differ from fixtures/stimuli.json's ({differing[:10]}): "
                         "generate on the same checkpoints with the same seed")
    return [{"model": "saliency.stimulus", "fields": f} for f in by_model(made, "saliency.stimulus")
            if f["method"] != SHIPPED_METHOD]


def write_from_run(argv, usage, fixture, shipped_names, make_records):
    """A devtools script's main: fixtures/<fixture> from a generate_stimuli run (argv: its folder), its records
    make_records(the run's records, those of the shipped fixtures `shipped_names`) and their PNGs copied into
    fixtures/stimuli/; nothing is written where make_records raises ValueError."""
    if len(argv) != 1:
        print(usage, file=sys.stderr)
        return 2
    run = Path(argv[0])
    made = json.loads((run / "stimuli.json").read_text())
    shipped = [record for name in shipped_names for record in json.loads((FIXTURES / name).read_text())]
    try:
        records = make_records(made, shipped)
    except ValueError as error:
        print(f"{Path(fixture).stem}_fixture: {error}", file=sys.stderr)
        return 1
    for record in records:
        png = record["fields"].get("heatmap") or record["fields"]["image"]
        shutil.copyfile(run / png, FIXTURES / png)
    (FIXTURES / fixture).write_text(json.dumps(records, indent=2) + "\n")
    print(f"Wrote {len(by_model(records, 'saliency.stimulus'))} stimuli to {FIXTURES / fixture}")
    return 0


def main(argv):
    return write_from_run(argv, __doc__, "methods.json", ("stimuli.json",), methods_records)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
