"""How fragile is a stimulus's RIS/ROS? Each is a maximum over 200 random perturbations, so it moves with the
noise draw and, in float32, with the CPU's rounding.

    .venv/bin/python benchmarks/stimulus_stability.py [--seeds 5] [--checkpoints fixtures/models]

For the shipped fixture's images and models (VG maps, as generate_stimuli makes them), it prints per model:
- across noise seeds (float64): each stimulus's relative range (max / min - 1) over the seeds, median and max,
  and the stimuli whose value is NaN (noise changed the class) under some seeds but not others;
- float32 against float64 on the same noise: how many stimuli move by more than 1e-6 and 1e-3, and the largest move
  (the size of the differences between CPUs that made the float32 fixture irreproducible).
"""

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from saliency.attribution import METHODS, predict, vanilla_gradient  # noqa: E402
from saliency.data import batches, load_split  # noqa: E402
from saliency.devices import seeded_generator  # noqa: E402
from saliency.metrics import STABILITY_SAMPLES, relative_stability, stability_noise  # noqa: E402
from saliency.training import load_checkpoint  # noqa: E402


def stability(model, images, seed, dtype):
    """(RIS, ROS) per image with the noise generate_stimuli draws for `seed`, the model and images in `dtype`."""
    model, images = copy.deepcopy(model).to(dtype), images.to(dtype)
    target, _ = predict(model, images)
    maps = vanilla_gradient(model, images, target)
    noise = stability_noise(images.shape, STABILITY_SAMPLES, images.device, seeded_generator("cpu", seed))
    return relative_stability(model, METHODS["VG"], images, target, maps, noise)


def relative_range(values):
    """max / min - 1 per stimulus over the seeds (rows), ignoring NaN seeds."""
    return values.nanquantile(1, dim=0) / values.nanquantile(0, dim=0) - 1  # nanquantile: NaN-aware max and min


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "fixtures" / "models")
    parser.add_argument("--fixture", type=Path, default=ROOT / "fixtures" / "stimuli.json")
    args = parser.parse_args()

    records = json.loads(args.fixture.read_text())
    sources = {r["pk"]: r["fields"] for r in records if r["model"] == "saliency.sourceimage"}
    stimuli = [r["fields"] for r in records if r["model"] == "saliency.stimulus"]
    test_data = load_split("fmnist", False)
    indices = torch.tensor([s["test_index"] for s in sources.values()])
    images, _ = next(batches(test_data, len(indices), indices=indices))
    print(f"{len(indices)} images x {STABILITY_SAMPLES} perturbations, seeds 0..{args.seeds - 1}")
    for variant in sorted({s["variant"] for s in stimuli}):
        preset = next(s["preset"] for s in stimuli if s["variant"] == variant)
        model, _ = load_checkpoint(args.checkpoints, "fmnist", variant, preset)
        by_seed = [stability(model.eval(), images, seed, torch.float64) for seed in range(args.seeds)]
        single = stability(model.eval(), images, 0, torch.float32)
        for index, name in enumerate(("RIS", "ROS")):
            values = torch.stack([pair[index] for pair in by_seed])
            spread = relative_range(values)
            defined = spread[~spread.isnan()]
            sometimes_nan = (values.isnan().any(dim=0) & ~values.isnan().all(dim=0)).sum().item()
            move = ((single[index] - values[0]).abs() / values[0].abs())
            move = move[~move.isnan()]
            print(f"{variant:3} {name}: across seeds median {defined.median():.1%}, max {defined.max():.1%} "
                  f"relative range; NaN under some seeds only: {sometimes_nan}/{len(indices)}; "
                  f"float32 vs float64: {(move > 1e-6).sum()} > 1e-6, {(move > 1e-3).sum()} > 1e-3, "
                  f"max {move.max():.2e}")


if __name__ == "__main__":
    main()
