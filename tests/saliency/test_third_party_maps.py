"""Maps from a third-party attribution library built on torchvision (zennit), in the project's environment."""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from django.core.management import call_command
from PIL import Image

from saliency.data import batches
from saliency.models import Stimulus

IMPORT_ZENNIT = ("import sys, zennit, torchvision, torchvision.ops; "
                 "print('saliency.vision' in sys.modules, torchvision.extension._has_ops())")


def fresh_python(tmp_path, code, **env):
    """`code` in a new interpreter of this environment, outside the repository (no `saliency` on the path but
    the installed project's)."""
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_a_library_that_imports_torchvision_imports_cleanly_without_the_project(tmp_path):
    """zennit imports torchvision's models (and so its ops) at its own import. The project's torch plugin
    (saliency/torchvision_ops.py, installed by pyproject.toml's entry point) makes that work beside a CPU-only
    torch, with nothing of the project imported first; without the plugin it fails there."""
    result = fresh_python(tmp_path, IMPORT_ZENNIT)
    assert result.returncode == 0, ("import zennit failed; is the project installed (make install)?\n"
                                    + result.stderr[-2000:])
    assert result.stdout.split()[0] == "False"  # the project's own modules were not imported
    native_ops = result.stdout.split()[1] == "True"  # a CUDA torch loads torchvision's compiled ops itself
    without = fresh_python(tmp_path, IMPORT_ZENNIT, TORCH_DEVICE_BACKEND_AUTOLOAD="0")
    if native_ops:
        assert without.returncode == 0, without.stderr[-2000:]
    else:
        assert without.returncode != 0 and "operator torchvision::nms does not exist" in without.stderr


@pytest.mark.django_db
def test_signed_lrp_maps_from_zennit_import_as_diverging_stimuli(tmp_path, stimuli_root, fmnist_test):
    """LRP relevance is signed: drawn diverging, pixels against the prediction are blue, those for it red (the
    default sequential rendering would draw both the colour of zero)."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 28 * 28, 10)).eval()
    x, y = next(batches(fmnist_test, 1, indices=torch.tensor([0])))
    with Gradient(model=model, composite=EpsilonPlusFlat()) as attributor:
        _, relevance = attributor(x.requires_grad_(), torch.eye(10)[y])
    relevance = relevance[0, 0].detach().numpy().astype(np.float64)
    assert (relevance < 0).mean() > 0.05 and (relevance > 0).mean() > 0.05
    np.save(tmp_path / "lrp.npy", relevance)
    Image.fromarray(np.round(x[0, 0].detach().numpy() * 255).astype(np.uint8), "L").save(tmp_path / "image.png")
    with (tmp_path / "manifest.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([
            ["image", "map", "dataset", "class_name", "model", "method", "settings"],
            ["image.png", "lrp.npy", "fmnist-mine", fmnist_test.classes[int(y)], "tiny-cnn", "LRP",
             '{"composite": "EpsilonPlusFlat", "epsilon": 1e-6}']])
    call_command("import_stimuli", str(tmp_path / "manifest.csv"), "--rendering", "diverging", stdout=io.StringIO())
    stimulus = Stimulus.objects.get()
    assert (stimulus.rendering, stimulus.settings["composite"]) == ("diverging", "EpsilonPlusFlat")
    pixels = np.asarray(Image.open(stimuli_root / stimulus.heatmap).convert("RGB"), dtype=int)[4::8, 4::8]
    strong = np.abs(relevance) > np.percentile(np.abs(relevance), 90)
    against, towards = strong & (relevance < 0), strong & (relevance > 0)
    assert against.any() and towards.any()
    assert (pixels[against][:, 2] > pixels[against][:, 0]).all()  # blue
    assert (pixels[towards][:, 0] > pixels[towards][:, 2]).all()  # red
