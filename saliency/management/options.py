"""Options that saliency's commands share: which models, from where, on which device."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from saliency.devices import DEVICE_CHOICES, DeviceError, resolve_device
from saliency.models import Dataset, Variant
from saliency.names import DEFAULT_RENDERING, DEFAULT_SCALING, RENDERINGS, SCALINGS


def add_model_options(parser):
    """--datasets --models --preset --checkpoints --data-root --device --seed --threads."""
    parser.add_argument("--datasets", nargs="+", default=["fmnist"], choices=Dataset.values)
    parser.add_argument("--models", nargs="+", default=["N", "A", "M2"], choices=Variant.values)
    parser.add_argument("--preset", default="cpu", choices=["paper", "cpu"])
    parser.add_argument("--checkpoints", type=Path, default=Path(settings.BASE_DIR) / "fixtures" / "models")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="Folder with cifar-10-batches-py/, imagenette2-320/ or fashion-mnist/ "
                             "(Fashion-MNIST defaults to Debian's /usr/share/datasets/fashion-mnist/).")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="auto: CUDA when torch sees a CUDA device, else the CPU.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")


def device_from_options(options):
    """Apply --threads and resolve --device; a device torch does not have is a CommandError."""
    import torch

    if options["threads"]:
        torch.set_num_threads(options["threads"])
    try:
        return resolve_device(options["device"])
    except DeviceError as error:
        raise CommandError(str(error)) from error


def add_rendering_options(parser):
    """--rendering --scaling: how a stimulus set draws its maps (saliency.rendering), recorded on each stimulus."""
    parser.add_argument("--rendering", default=DEFAULT_RENDERING, choices=RENDERINGS,
                        help="sequential (default): 0 and below dark, large values bright; absolute: the magnitude "
                             "|value|; diverging: negative blue, zero white, positive red on a range symmetric "
                             "around 0 (for signed relevance such as LRP or Gradient x Input).")
    parser.add_argument("--scaling", default=DEFAULT_SCALING, choices=SCALINGS,
                        help="map (default): each map on its own range; image: one range for the models' maps of "
                             "an image by one method (the maps a side-by-side page comparing models shows).")
