"""Make torchvision importable beside a CPU-only torch, for every program in the project's environment.

torchvision 0.28's compiled ops (_C.so) are a CUDA build. Against a CPU-only torch the library fails to load,
and `import torchvision` then dies in its meta registrations with "operator torchvision::nms does not exist".
When the library cannot load, `declare` declares the two operator schemas those registrations need (no kernels:
detection ops stay unavailable, which no saliency method needs), so that torchvision's datasets, models,
transforms and ops modules import normally. Where _C loads (CUDA builds), nothing is declared.

The project installs `declare` as a torch plugin (pyproject.toml's "torch.backends" entry point): torch calls it
at the end of its own import, before anything can import torchvision, so third-party libraries built on
torchvision (zennit, pytorch-grad-cam) and a researcher's own scripts import cleanly without importing the
project first. saliency.vision calls it too (TORCH_DEVICE_BACKEND_AUTOLOAD=0 turns plugins off). No Django.
"""

import importlib.util
from pathlib import Path

_declared = []  # the Library fragment, kept referenced: its schemas live only as long as it does


def declare():
    """Load torchvision's compiled ops, or declare the schemas its import needs; once per process."""
    if _declared:
        return
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        _declared.append(None)
        return
    for library in Path(spec.origin).parent.glob("_C*.so"):
        try:
            torch.ops.load_library(str(library))
            _declared.append(None)
            return
        except OSError:
            break
    fragment = torch.library.Library("torchvision", "FRAGMENT")
    fragment.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    fragment.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _declared.append(fragment)
