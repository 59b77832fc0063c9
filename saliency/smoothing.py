"""Feature-map smoothing block: a 3x3 filter, a 1x1 convolution, added back as a residual.

kornia's median_blur takes a conv2d + median path whenever gradients are needed,
which makes an adversarial training step with the M2 block about 3x slower.
`median3x3` selects the same neighbour (same value, same tie index) with a
selection network on (value, position) keys, and its backward sums the gradient
in the order kornia's conv2d backward does (window positions in row-major order,
then the reflect-padding backward), so output and gradient equal kornia's bit for bit.
"""

import torch
import torch.nn.functional as F
from kornia.filters import box_blur, gaussian_blur2d, median_blur
from torch import nn
from torch.autograd.function import once_differentiable

FILTERS = ("mean", "median", "gaussian")
KERNEL_SIZE = 3


MEDIAN_CHUNK = 32768  # windows per pass of the selection below: its eight int64 buffers stay in a core's L2 cache


def _median_positions(flat: torch.Tensor, row: int, span: int) -> torch.Tensor:
    """Flat position, in the reflect-padded map `flat`, of the median of each 3x3 window whose top-left corner is at
    0..span-1: the 5th of the nine in a stable sort by value, which is the neighbour torch.median picks.

    Each pixel becomes one int64 key, its float32 value mapped to an order-preserving int32 in the high word and its
    position in the low word, so the nine keys of a window are distinct and order like (value, window position).
    The median key is then selected exactly by sorting the vertical triples once (each serves three windows) and
    taking the median of (max of lows, median of middles, min of highs). Windows that straddle two rows or maps
    are computed too and never used. Work goes in chunks, with out= into reused buffers, to stay in cache.
    """
    bits = (flat + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into 0.0, so equal values get equal keys
    positions = torch.empty(span, dtype=torch.int32)
    reach = MEDIAN_CHUNK + 2 + 2 * row
    keys = torch.empty(reach, 2, dtype=torch.int32)  # little-endian int64: [low word, high word]
    keys[:, 0] = torch.arange(reach, dtype=torch.int32)
    keys64 = keys.view(torch.int64).view(-1)
    flip = torch.empty(reach, dtype=torch.int32)
    low, middle, high, spare = (torch.empty(MEDIAN_CHUNK + 2, dtype=torch.int64) for _ in range(4))
    lows, middles, highs, median = (torch.empty(MEDIAN_CHUNK, dtype=torch.int64) for _ in range(4))
    minimum, maximum = torch.minimum, torch.maximum
    for start in range(0, span, MEDIAN_CHUNK):
        n = min(MEDIAN_CHUNK, span - start)
        cols = n + 2
        source = bits[start : start + cols + 2 * row]
        # Negative floats order backwards as integers: flip their magnitude bits.
        torch.bitwise_right_shift(source, 31, out=flip[: source.numel()]).bitwise_and_(0x7FFFFFFF)
        torch.bitwise_xor(source, flip[: source.numel()], out=keys[: source.numel(), 1])
        top, centre, bottom = keys64[:cols], keys64[row : row + cols], keys64[2 * row : 2 * row + cols]
        lo, mid, hi, tmp = low[:cols], middle[:cols], high[:cols], spare[:cols]
        minimum(top, centre, out=lo)
        maximum(top, centre, out=hi)
        minimum(hi, bottom, out=tmp)
        maximum(hi, bottom, out=hi)
        minimum(lo, tmp, out=mid)
        maximum(lo, tmp, out=tmp)
        lo, mid = mid, tmp
        a, b, c, m = lows[:n], highs[:n], middles[:n], median[:n]
        maximum(lo[:n], lo[1 : n + 1], out=a)
        maximum(a, lo[2 : n + 2], out=a)
        minimum(hi[:n], hi[1 : n + 1], out=b)
        minimum(b, hi[2 : n + 2], out=b)
        minimum(mid[:n], mid[1 : n + 1], out=c)
        maximum(mid[:n], mid[1 : n + 1], out=m)
        minimum(m, mid[2 : n + 2], out=m)
        maximum(c, m, out=c)
        minimum(a, c, out=m)
        maximum(a, c, out=a)
        minimum(a, b, out=a)
        maximum(m, a, out=m)
        torch.add(m.view(torch.int32)[::2], start, out=positions[start : start + n])
    return positions


class _Median3x3(torch.autograd.Function):
    """Forward: the median neighbour's position (torch.median's choice among ties) and its value.
    Backward: kornia's conv2d backward adds each window's gradient into the padded map in window-position order,
    i.e. for one padded pixel from the window with the highest top-left corner down; index_add_ adds serially, so
    it gets the same sums from the windows reversed. Then the reflect-padding backward, as kornia's."""

    @staticmethod
    def forward(ctx, x):
        height, width = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect").contiguous()
        flat = padded.view(-1)
        row = width + 2
        span = flat.numel() - 2 * row - 2  # window corners whose window lies inside `flat`
        positions = _median_positions(flat, row, span)
        median = torch.empty_like(flat)
        torch.index_select(flat, 0, positions, out=median[:span])
        ctx.save_for_backward(x, positions)
        return median.view_as(padded)[..., :height, :width].contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, positions = ctx.saved_tensors
        height, width = x.shape[-2:]
        grad_windows = grad.new_zeros(*x.shape[:-2], height + 2, width + 2)
        grad_windows[..., :height, :width] = grad  # straddling windows get zero
        grad_padded = torch.zeros_like(grad_windows)
        span = positions.numel()
        grad_padded.view(-1).index_add_(0, positions.flip(0), grad_windows.view(-1)[:span].flip(0))
        return torch.ops.aten.reflection_pad2d_backward(grad_padded, x, [1, 1, 1, 1])


def median3x3(x: torch.Tensor) -> torch.Tensor:
    """kornia 0.9's median_blur(x, 3) (reflect padding) on finite input: equal output and gradient, faster.
    Other than float32, or empty, or too big for int32 positions, it is kornia's median_blur itself."""
    height, width = x.shape[-2:]
    padded_size = x.numel() // max(height * width, 1) * (height + 2) * (width + 2)
    if x.dtype != torch.float32 or not 0 < padded_size < 2**31:
        return median_blur(x, KERNEL_SIZE)
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
