"""The one place that imports torchvision for the project's own code.

saliency.torchvision_ops makes torchvision importable beside a CPU-only torch; installed with the project it runs
when torch is imported, and this call covers environments where torch plugins are turned off.
"""

from saliency.torchvision_ops import declare

declare()

import torchvision  # noqa: E402
from torchvision import datasets, models, transforms  # noqa: E402

__all__ = ["torchvision", "datasets", "models", "transforms"]
