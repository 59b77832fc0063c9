"""Saliency benchmark: training throughput per preset and variant, the M2/A step-cost ratio, stimulus generation time.

    .venv/bin/python benchmarks/stimuli.py [--batches 5] [--threads 1] [--checkpoints fixtures/models]

Throughput is measured on real Fashion-MNIST batches after one warm-up batch, as wall-clock and as process CPU
time (the CPU figure is the one to compare on a shared machine). Generation runs `manage.py generate_stimuli`
in-process from the checkpoints (20 images x N, A, M2 = 60 stimuli) into a temporary folder.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from kornia.filters import median_blur

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from saliency.data import batches, load_split  # noqa: E402
from saliency.devices import seeded_generator  # noqa: E402
from saliency.smoothing import SmoothingBlock  # noqa: E402
from saliency.training import PRESET_NAMES, get_preset, make_model, make_optimizer, training_step  # noqa: E402

VARIANTS = ("N", "A", "M2")


def use_kornia_median(model):
    """The reference: kornia's own median_blur in the model's smoothing block."""
    for block in model:
        if isinstance(block, SmoothingBlock):
            block.smooth = lambda x: median_blur(x, 3)


def training_throughput(train_data, preset, variant, n_batches, kornia_median=False, device="cpu", warm_up=1):
    """(images/s wall, images/s process CPU) of training steps as train() takes them: batches sliced on the CPU,
    moved to the device; on CUDA the clock stops once the device has finished."""
    torch.manual_seed(0)
    model = make_model("fmnist", variant, preset).to(device).train()
    if kornia_median:
        use_kornia_median(model)
    optimizer = make_optimizer(model, preset)
    generator = seeded_generator(device, 1)
    stream = batches(train_data, preset.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))

    def steps(count):
        for _ in range(count):
            x, y = next(stream)
            training_step(model, optimizer, x.to(device), y.to(device), variant, preset, generator)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    steps(warm_up)
    wall, cpu = time.perf_counter(), time.process_time()
    steps(n_batches)
    images = n_batches * preset.batch_size
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def generation_seconds(checkpoints):
    import django
    from django.core.management import call_command

    django.setup()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        call_command("generate_stimuli", "--datasets", "fmnist", "--models", *VARIANTS, "--images-per-dataset", "20",
                     "--preset", "cpu", "--checkpoints", str(checkpoints), "--out", out, stdout=io.StringIO())
        seconds = time.perf_counter() - started
        count = len(list(Path(out, "stimuli").glob("*.png")))
    return seconds, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "fixtures" / "models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; {args.batches} batches after one warm-up")
    train_data = load_split("fmnist", True)
    print(f"\n{'preset':<7} {'model':<6} {'batch':>5} {'attack':<14} {'img/s wall':>10} {'img/s CPU':>10}")
    for preset_name in PRESET_NAMES:
        preset = get_preset(preset_name, "fmnist")
        attack = f"{preset.attack}-{preset.attack_steps}"
        cpu_rate = {}
        for variant in VARIANTS:
            wall, cpu_rate[variant] = training_throughput(train_data, preset, variant, args.batches)
            shown = attack if variant != "N" else "-"
            print(f"{preset_name:<7} {variant:<6} {preset.batch_size:>5} {shown:<14} {wall:>10.1f} {cpu_rate[variant]:>10.1f}")
        wall, kornia_rate = training_throughput(train_data, preset, "M2", args.batches, kornia_median=True)
        print(f"{preset_name:<7} {'M2*':<6} {preset.batch_size:>5} {attack:<14} {wall:>10.1f} {kornia_rate:>10.1f}")
        print(f"{preset_name:<7} M2/A training step cost (CPU time): {cpu_rate['A'] / cpu_rate['M2']:.2f}x "
              f"(goal <= 1.3x); with kornia's median_blur (M2*): {cpu_rate['A'] / kornia_rate:.2f}x")
    seconds, pngs = generation_seconds(args.checkpoints)
    print(f"\ngenerate_stimuli from checkpoints, 20 images x {len(VARIANTS)} models: {seconds:.1f} s wall "
          f"({pngs} PNGs, each map's five metrics included)")


if __name__ == "__main__":
    main()
