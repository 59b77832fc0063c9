"""The study's classifiers as nn.Sequential stages, so a smoothing block can go after any stage.

Every model takes images in [0, 1] (attacks work in that box); CIFAR-10 and
ImageNette models normalize inside their first stage.
"""

import torch
from torch import nn

from saliency.smoothing import SmoothingBlock
from saliency.vision import models as tv_models

# Variant code -> smoothing filter (None: no block).
VARIANT_FILTERS = {"N": None, "A": None, "M1": "mean", "M2": "median", "G": "gaussian"}
ADVERSARIAL_VARIANTS = ("A", "M1", "M2", "G")

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def fmnist_stages():
    """Two 5x5 conv blocks (32, 64 filters; ReLU, 2x2 max-pool), fc 1024, 10 outputs."""
    return [
        nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(64 * 5 * 5, 1024), nn.ReLU(), nn.Linear(1024, 10)),
    ]


class WideBasic(nn.Module):
    """Pre-activation wide residual block (Zagoruyko & Komodakis 2016)."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + shortcut


def wide_resnet_stages(depth=28, widen_factor=10, num_classes=10):
    if (depth - 4) % 6:
        raise ValueError(f"Wide-ResNet depth must be 6n+4 (e.g. 16, 22, 28), got {depth}.")
    n = (depth - 4) // 6
    widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    stages = [nn.Sequential(Normalize(CIFAR10_MEAN, CIFAR10_STD), nn.Conv2d(3, widths[0], 3, padding=1, bias=False))]
    in_planes = widths[0]
    for group, planes in enumerate(widths[1:]):
        for i in range(n):
            stages.append(WideBasic(in_planes, planes, stride=2 if (group > 0 and i == 0) else 1))
            in_planes = planes
    stages.append(
        nn.Sequential(
            nn.BatchNorm2d(in_planes), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_planes, num_classes)
        )
    )
    return stages


def resnet18_stages(num_classes=10):
    net = tv_models.resnet18(weights=None, num_classes=num_classes)
    return [
        nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), net.conv1, net.bn1, net.relu, net.maxpool),
        net.layer1,
        net.layer2,
        net.layer3,
        net.layer4,
        nn.Sequential(net.avgpool, nn.Flatten(), net.fc),
    ]


DATASET_SPECS = {
    # dataset: (stages factory, input shape (C, H, W))
    "fmnist": (fmnist_stages, (1, 28, 28)),
    "cifar10": (wide_resnet_stages, (3, 32, 32)),
    "imagenette": (resnet18_stages, (3, 224, 224)),
}


def build_model(dataset: str, variant: str, smoothing_position: int = 1, **arch) -> nn.Sequential:
    """The dataset's network for a variant; smoothing goes after stage `smoothing_position` (1 = first block).

    `arch` passes architecture options to the factory (Wide-ResNet: depth, widen_factor).
    """
    if dataset not in DATASET_SPECS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASET_SPECS)}.")
    if variant not in VARIANT_FILTERS:
        raise ValueError(f"Unknown variant {variant!r}; choose one of {', '.join(VARIANT_FILTERS)}.")
    factory, input_shape = DATASET_SPECS[dataset]
    stages = factory(**arch)
    kind = VARIANT_FILTERS[variant]
    if kind is not None:
        if not 1 <= smoothing_position < len(stages):
            raise ValueError(f"Smoothing position must be between 1 and {len(stages) - 1}, got {smoothing_position}.")
        with torch.no_grad():
            features = nn.Sequential(*stages[:smoothing_position]).eval()(torch.zeros(1, *input_shape))
        stages.insert(smoothing_position, SmoothingBlock(features.shape[1], kind, input_shape[1:]))
    return nn.Sequential(*stages)
