"""Explanation-metrics benchmark: seconds per 100 images for each method and model (all five metrics, as
`manage.py evaluate_explanations` computes them: 200 stability perturbations, 50 ROAD steps, one noisy copy).

    .venv/bin/python benchmarks/explanations.py [--images 20] [--methods VG IG SG] [--models N A M2] [--threads 1]
        [--device cpu] [--samples 200]

Times `saliency.evaluation.evaluate` on real Fashion-MNIST test images with the shipped checkpoints, as wall
clock and process CPU time (the CPU figure is the one to compare on a shared machine), and projects the
full table (1000 images x the models x the methods) from them.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saliency.data import load_split  # noqa: E402
from saliency.evaluation import evaluate  # noqa: E402
from saliency.stimuli import Explainer  # noqa: E402
from saliency.training import load_checkpoint  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=["VG", "IG", "SG"])
    parser.add_argument("--models", nargs="+", default=["N", "A", "M2"])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "fixtures" / "models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, device {args.device}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.images} images, {args.samples} stability perturbations")
    test_data = load_split("fmnist", False)
    explainers = {v: Explainer(v, load_checkpoint(args.checkpoints, "fmnist", v, "cpu", args.device)[0], "cpu", "")
                  for v in args.models}
    print(f"\n{'method':<7} {'model':<6} {'s/100 img wall':>15} {'s/100 img CPU':>14}")
    total = {}
    for method in args.methods:
        total[method] = 0.0
        for variant, explainer in explainers.items():
            wall, cpu = time.perf_counter(), time.process_time()
            evaluate("fmnist", test_data, [explainer], [method], args.images, 0, args.device, args.samples)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            total[method] += wall * 100 / args.images
            print(f"{method:<7} {variant:<6} {wall * 100 / args.images:>15.1f} {cpu * 100 / args.images:>14.1f}")
    print("\nProjected wall time of 1000 images x " + " ".join(args.models) + ":")
    for method, per_100 in total.items():
        print(f"  {method}: {per_100 * 10 / 60:.1f} min")
    print(f"  all: {sum(total.values()) * 10 / 60:.1f} min (goals: VG alone < 10 min on this CPU; everything "
          "< 10 min on one GPU)")


if __name__ == "__main__":
    main()
