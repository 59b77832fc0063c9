"""GPU check and benchmark of the saliency code: the median, training throughput, generate_stimuli on CUDA.

    source .gpu/setup.sh && python3 benchmarks/gpu.py              # on the GPU machine (after devtools/gpu_prepare.sh)
    .venv/bin/python benchmarks/gpu.py --device cpu --quick         # the same steps on the CPU, to try the script

Prints, in this order (about 2-3 minutes on one H100, estimated from the eager img/s measured on an H200; not yet
run on a GPU):
1. the median on the device against kornia's median_blur(x, 3) on the same device and against the exact CPU
   result (ours and kornia's agree bit for bit there, see tests/saliency/test_smoothing.py): output and gradient,
   on Gaussian noise, on ReLU maps (tied zeros) and on few distinct values (ties everywhere), at the `cpu` and
   `paper` training shapes, with the fwd+bwd time of both;
2. training images/s per preset and variant, M2* being M2 with kornia's median, and the M2/A step-cost ratio;
3. generate_stimuli from the shipped checkpoints on the device: its time, and whether it picks the same images
   and predicted classes as the shipped CPU fixture, how many PNGs are byte-identical and how far the maps are;
4. a short generate_stimuli --preset paper --max-batches 8 end to end (training included) into a temporary folder.
"""

import argparse
import functools
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy
import torch
from kornia.filters import median_blur
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from benchmarks.stimuli import VARIANTS, training_throughput  # noqa: E402
from saliency.data import load_split  # noqa: E402
from saliency.devices import DeviceError, resolve_device  # noqa: E402
from saliency.smoothing import median3x3  # noqa: E402
from saliency.training import PRESET_NAMES, get_preset  # noqa: E402

FIXTURES = ROOT / "fixtures"
# The smoothing block's input in training: (batch, 32 channels, 14 x 14) after the first conv block.
MEDIAN_SHAPES = {"cpu": (64, 32, 14, 14), "paper": (32, 32, 14, 14)}
MEDIAN_INPUTS = {
    "gaussian": lambda shape, g: torch.randn(shape, generator=g),
    "relu (tied zeros)": lambda shape, g: torch.relu(torch.randn(shape, generator=g)),
    "3 values (ties)": lambda shape, g: torch.randint(0, 3, shape, generator=g).float(),
}


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fwd_bwd(median, x, upstream):
    x = x.detach().requires_grad_()
    out = median(x)
    out.backward(upstream)
    return out.detach(), x.grad


def milliseconds(device, repeats, function, *args):
    function(*args)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        function(*args)
    synchronize(device)
    return 1000 * (time.perf_counter() - started) / repeats


def max_difference(a, b):
    return (a.double() - b.double()).abs().max().item()


def median_check(device, repeats):
    kornia = functools.partial(median_blur, kernel_size=3)
    print(f"\n1. median3x3 against kornia median_blur(x, 3) on {device}, and against the exact CPU result")
    if device.type == "cuda":
        print(f"   TF32: cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
              f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32} (kornia's median runs a conv2d)")
    print(f"   {'shape':<8} {'input':<18} {'out=kornia':>10} {'grad=kornia':>11} {'out=exact':>9} {'grad=exact':>10} "
          f"{'kornia out/grad vs exact':>25} {'ours ms':>8} {'kornia ms':>9}")
    generator = torch.Generator().manual_seed(0)
    for preset_name, shape in MEDIAN_SHAPES.items():
        for name, make in MEDIAN_INPUTS.items():
            x_cpu, upstream_cpu = make(shape, generator), torch.randn(shape, generator=generator)
            exact_out, exact_grad = fwd_bwd(median3x3, x_cpu, upstream_cpu)
            x, upstream = x_cpu.to(device), upstream_cpu.to(device)
            ours_out, ours_grad = fwd_bwd(median3x3, x, upstream)
            kornia_out, kornia_grad = fwd_bwd(kornia, x, upstream)
            ours_ms = milliseconds(device, repeats, fwd_bwd, median3x3, x, upstream)
            kornia_ms = milliseconds(device, repeats, fwd_bwd, kornia, x, upstream)
            kornia_vs_exact = (f"{max_difference(kornia_out.cpu(), exact_out):.1e}/"
                               f"{max_difference(kornia_grad.cpu(), exact_grad):.1e}")
            print(f"   {preset_name:<8} {name:<18} {str(torch.equal(ours_out, kornia_out)):>10} "
                  f"{str(torch.equal(ours_grad, kornia_grad)):>11} {str(torch.equal(ours_out.cpu(), exact_out)):>9} "
                  f"{str(torch.equal(ours_grad.cpu(), exact_grad)):>10} {kornia_vs_exact:>25} "
                  f"{ours_ms:>8.2f} {kornia_ms:>9.2f}")


def training_check(device, n_batches):
    print(f"\n2. training images/s on {device} ({n_batches} batches after 3 warm-up batches; M2* = kornia's median)")
    train_data = load_split("fmnist", True)
    print(f"   {'preset':<7} {'attack':<10} " + " ".join(f"{v:>8}" for v in (*VARIANTS, "M2*"))
          + f" {'M2/A cost':>10} {'M2*/A cost':>10}")
    for preset_name in PRESET_NAMES:
        preset = get_preset(preset_name, "fmnist")
        rates = {variant: training_throughput(train_data, preset, variant, n_batches, device=device, warm_up=3)[0]
                 for variant in VARIANTS}
        rates["M2*"] = training_throughput(train_data, preset, "M2", n_batches, True, device=device, warm_up=3)[0]
        print(f"   {preset_name:<7} {preset.attack + '-' + str(preset.attack_steps):<10} "
              + " ".join(f"{rates[v]:>8.0f}" for v in rates)
              + f" {rates['A'] / rates['M2']:>9.2f}x {rates['A'] / rates['M2*']:>9.2f}x")


def generate(out, checkpoints, device, *args):
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("generate_stimuli", "--datasets", "fmnist", "--models", *VARIANTS, "--device", device.type,
                 "--checkpoints", str(checkpoints), "--out", str(out), *args, stdout=io.StringIO())
    return time.perf_counter() - started


def by_map(folder):
    """{(test index, variant or 'image'): (predicted class, confidence, PNG path)} of a written fixture."""
    records = json.loads((folder / "stimuli.json").read_text())
    sources = {r["pk"]: r["fields"] for r in records if r["model"] == "saliency.sourceimage"}
    maps = {(s["test_index"], "image"): (None, None, folder / s["image"]) for s in sources.values()}
    for r in records:
        if r["model"] == "saliency.stimulus":
            f = r["fields"]
            maps[sources[f["source_image"]]["test_index"], f["variant"]] = (
                f["predicted_class"], f["confidence"], folder / f["heatmap"])
    return maps


def pixel_difference(a, b):
    a, b = (numpy.asarray(Image.open(path).convert("RGB"), dtype=numpy.int16) for path in (a, b))
    return int(numpy.abs(a - b).max())


def shipped_fixture_check(device, work):
    shipped = by_map(FIXTURES)
    images = sum(key[1] == "image" for key in shipped)
    shutil.copytree(FIXTURES / "models", work / "models")  # the command rewrites the accuracy table there
    seconds = generate(work / "out", work / "models", device, "--images-per-dataset", str(images), "--preset", "cpu")
    ours = by_map(work / "out")
    print(f"\n3. generate_stimuli --device {device.type} from the shipped cpu checkpoints "
          f"({images} images x {len(VARIANTS)} models): {seconds:.1f} s wall, model loading included")
    same_images = {k[0] for k in ours} == {k[0] for k in shipped}
    print(f"   same test images as the shipped CPU fixture: {same_images}")
    if not same_images:
        return
    maps = [k for k in shipped if k[1] != "image"]
    same_class = sum(ours[k][0] == shipped[k][0] for k in maps)
    confidence = max(abs(ours[k][1] - shipped[k][1]) for k in maps)
    identical = sum(ours[k][2].read_bytes() == shipped[k][2].read_bytes() for k in shipped)
    worst = max(pixel_difference(ours[k][2], shipped[k][2]) for k in shipped)
    print(f"   same predicted class: {same_class}/{len(maps)} maps; largest confidence difference {confidence:.4f}")
    print(f"   byte-identical PNGs: {identical}/{len(shipped)}; largest pixel difference {worst}/255 "
          "(GPU float sums may differ from the CPU's in the last bits, and a map's 99th-percentile scaling with them)")


def paper_check(device, work, max_batches):
    images = 10
    seconds = generate(work / "paper-out", work / "paper-models", device, "--images-per-dataset", str(images),
                       "--preset", "paper", "--max-batches", str(max_batches))
    written = len(list((work / "paper-out" / "stimuli").glob("*.png")))
    print(f"\n4. generate_stimuli --preset paper --device {device.type} --max-batches {max_batches} "
          f"(train {', '.join(VARIANTS)} for 50 epochs of {max_batches} batches, evaluate, {images} images): "
          f"{seconds:.1f} s wall, {written} PNGs")
    for info in sorted((work / "paper-models").glob("fmnist-*-paper.json")):
        metadata = json.loads(info.read_text())
        accuracy = metadata["accuracy"]
        print(f"   {metadata['variant']:<3} {metadata['train_images_per_second']:>8.0f} img/s training, "
              f"benign {accuracy['benign']:.1f} % of {accuracy['benign_images']}, "
              f"robust {accuracy['robust']:.1f} % of {accuracy['robust_images']}, device {metadata['device']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="few repeats and batches: try the script on the CPU")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        sys.exit(f"benchmarks/gpu.py: {error} This script measures the GPU path; benchmarks/stimuli.py the CPU's.")
    import django

    django.setup()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPUs"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {device}: {name}")
    started = time.perf_counter()
    median_check(device, repeats=3 if args.quick else 50)
    training_check(device, n_batches=2 if args.quick else 30)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as work:
        shipped_fixture_check(device, Path(work))
        paper_check(device, Path(work), max_batches=1 if args.quick else 8)
    print(f"\nbenchmarks/gpu.py took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
