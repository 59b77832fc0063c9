"""The one place that imports torchvision.

torchvision 0.28's compiled ops (_C.so) are a CUDA build. Against a CPU-only torch
the library fails to load, and `import torchvision` then dies in its meta
registrations with "operator torchvision::nms does not exist". When the library
cannot load we declare the two operator schemas those registrations need (no
kernels: detection ops stay unavailable, which this project never uses), so that
datasets, models and transforms import normally. Where _C loads (CUDA builds),
nothing is declared.
"""

import importlib.util
from pathlib import Path

import torch


def _declare_missing_ops():
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    for library in Path(spec.origin).parent.glob("_C*.so"):
        try:
            torch.ops.load_library(str(library))
            return None
        except OSError:
            break
    fragment = torch.library.Library("torchvision", "FRAGMENT")
    fragment.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    fragment.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return fragment


# Kept referenced: the schemas live only as long as this Library object.
_TORCHVISION_FRAGMENT = _declare_missing_ops()

import torchvision  # noqa: E402
from torchvision import datasets, models, transforms  # noqa: E402

__all__ = ["torchvision", "datasets", "models", "transforms"]
