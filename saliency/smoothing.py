"""Feature-map smoothing block: a 3x3 filter, a 1x1 convolution, added back as a residual.

kornia's median_blur takes a conv2d + median path whenever gradients are needed,
which makes an adversarial training step with the M2 block about 3x slower.
`median3x3` selects the same neighbour (same value, same tie index) with
elementwise operations only, and its backward sums the gradient in the order
kornia's conv2d backward does (window positions in row-major order, then the
reflect-padding backward), so output and gradient equal kornia's bit for bit.
"""

import torch
import torch.nn.functional as F
from kornia.filters import box_blur, gaussian_blur2d
from kornia.filters.median import _MEDIAN_NETWORKS
from torch import nn
from torch.autograd.function import once_differentiable

FILTERS = ("mean", "median", "gaussian")
KERNEL_SIZE = 3


WINDOW = [(dy, dx) for dy in range(3) for dx in range(3)]  # row-major, as kornia's get_binary_kernel2d


def _neighbours(x):
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return [padded[..., dy : dy + height, dx : dx + width] for dy, dx in WINDOW]


class _Median3x3(torch.autograd.Function):
    """Forward: kornia's min/max selection network gives the median value; the neighbour it came from is the
    one torch.median (kornia's gradient path) returns, i.e. the 5th of the nine in a stable sort by value."""

    @staticmethod
    def forward(ctx, x):
        neighbours = _neighbours(x)
        values = list(neighbours)
        for left, right, low, high in _MEDIAN_NETWORKS[3]:
            a, b = values[left], values[right]
            if low:
                values[left] = torch.minimum(a, b)
            if high:
                values[right] = torch.maximum(a, b)
        median = values[len(WINDOW) // 2]
        # Among the neighbours equal to the median (in window order), skip as many as needed to make it 5th.
        # uint8 arithmetic throughout (masked_fill_ is several times slower); `to_skip` wraps below 0 to 255
        # after the chosen neighbour, so no later one matches.
        to_skip = len(WINDOW) // 2 - sum((n < median).view(torch.uint8) for n in neighbours)
        index = torch.zeros_like(median, dtype=torch.uint8)
        for k, n in enumerate(neighbours):
            equal = (n == median).view(torch.uint8)
            if k:
                index += (equal & (to_skip == 0).view(torch.uint8)) * k
            to_skip -= equal
        ctx.save_for_backward(x, index)
        return median

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, index = ctx.saved_tensors
        height, width = x.shape[-2:]
        grad_padded = grad.new_zeros(*x.shape[:-2], height + 2, width + 2)
        zero = grad.new_zeros(())
        for k, (dy, dx) in enumerate(WINDOW):
            grad_padded[..., dy : dy + height, dx : dx + width] += torch.where(index == k, grad, zero)
        return torch.ops.aten.reflection_pad2d_backward(grad_padded, x, [1, 1, 1, 1])


def median3x3(x: torch.Tensor) -> torch.Tensor:
    """kornia 0.9's median_blur(x, 3) (reflect padding) on finite input: equal output and gradient, faster."""
    return _Median3x3.apply(x)


def study_sigma(image_height: int, image_width: int) -> tuple[float, float]:
    """The study's Gaussian sigma (y, x) from the input image size: 0.3*((n-1)*0.5-1)+0.8 per axis."""
    return (0.3 * ((image_height - 1) * 0.5 - 1) + 0.8, 0.3 * ((image_width - 1) * 0.5 - 1) + 0.8)


class SmoothingBlock(nn.Module):
    """x + conv1x1(filter3x3(x)), with filter one of mean, median, gaussian."""

    def __init__(self, channels: int, kind: str, image_size: tuple[int, int] = (28, 28)):
        super().__init__()
        if kind not in FILTERS:
            raise ValueError(f"Unknown smoothing filter {kind!r}; choose one of {', '.join(FILTERS)}.")
        self.kind = kind
        self.sigma = study_sigma(*image_size)
        self.mix = nn.Conv2d(channels, channels, kernel_size=1)

    def smooth(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "median":
            return median3x3(x)
        if self.kind == "mean":
            return box_blur(x, KERNEL_SIZE)
        return gaussian_blur2d(x, KERNEL_SIZE, self.sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.smooth(x))
