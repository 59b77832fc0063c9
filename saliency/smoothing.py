"""Feature-map smoothing block: a 3x3 filter, a 1x1 convolution, added back as a residual.

kornia's median_blur takes a conv2d + median path whenever gradients are needed,
which makes an adversarial training step with the M2 block about 3x slower.
`median3x3` selects the same neighbour (same value, same tie index) with a
selection network on (value, position) keys, and its backward sums the gradient
in the order kornia's conv2d backward does (window positions in row-major order,
then the reflect-padding backward's order), so output and gradient equal kornia's bit for bit.
It runs on the device of its input and creates every buffer there: on the CPU it works in
cache-sized chunks and adds the gradient with one serial index_add_; elsewhere (CUDA, whose
index_add_ adds in no fixed order) it works in one pass and adds the gradient window offset
by window offset, which gives the same sums in the same order.
"""

import torch
import torch.nn.functional as F
from kornia.filters import box_blur, gaussian_blur2d, median_blur
from torch import nn
from torch.autograd.function import once_differentiable

FILTERS = ("mean", "median", "gaussian")
KERNEL_SIZE = 3


def _median_positions(flat: torch.Tensor, row: int, positions: torch.Tensor, chunk: int) -> None:
    """Into `positions`: the flat position, in the reflect-padded map `flat`, of the median of each 3x3 window whose
    top-left corner is at 0, 1, ...: the 5th of the nine in a stable sort by value, the neighbour torch.median picks.

    Each pixel becomes one int64 key, its float32 value mapped to an order-preserving int32 in the high word and its
    position in the low word, so the nine keys of a window are distinct and order like (value, window position).
    The median key is then selected exactly by sorting the vertical triples once (each serves three windows) and
    taking the median of (max of lows, median of middles, min of highs). Windows that straddle two rows or maps
    are computed too and never used. Work goes in chunks of `chunk` windows, with out= into reused buffers.
    """
    bits = (flat + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into 0.0, so equal values get equal keys
    span, device = positions.numel(), flat.device
    chunk = min(chunk, span)
    reach = chunk + 2 + 2 * row
    keys = torch.empty(reach, 2, dtype=torch.int32, device=device)  # little-endian int64: [low word, high word]
    keys[:, 0] = torch.arange(reach, dtype=torch.int32, device=device)
    flip = torch.empty(reach, dtype=torch.int32, device=device)
    buffers = [torch.empty(chunk + 2, dtype=torch.int64, device=device) for _ in range(8)]
    plans = {}
    for start in range(0, span, chunk):
        n = min(chunk, span - start)
        if n not in plans:  # the views for a chunk of n windows, made once: slicing costs more than it seems
            plans[n] = _selection_plan(keys, flip, buffers, row, n)
        flip_bits, high_words, steps, median_positions = plans[n]
        source = bits[start : start + flip_bits.numel()]
        # Negative floats order backwards as integers: flip their magnitude bits.
        torch.bitwise_right_shift(source, 31, out=flip_bits).bitwise_and_(0x7FFFFFFF)
        torch.bitwise_xor(source, flip_bits, out=high_words)
        for step, first, second, out in steps:
            step(first, second, out=out)
        torch.add(median_positions, start, out=positions[start : start + n])


def _selection_plan(keys, flip, buffers, row, n):
    """The median selection for n windows as (op, input, input, out) steps on views of the reused buffers."""
    minimum, maximum = torch.minimum, torch.maximum
    cols, reach = n + 2, n + 2 + 2 * row
    keys64 = keys[:reach].view(torch.int64).view(-1)
    top, centre, bottom = keys64[:cols], keys64[row : row + cols], keys64[2 * row : 2 * row + cols]
    lo, hi, tmp, mid = (buffer[:cols] for buffer in buffers[:4])
    a, b, c, m = (buffer[:n] for buffer in buffers[4:])
    steps = [  # sort each vertical triple: lo <= mid <= hi
        (minimum, top, centre, lo), (maximum, top, centre, hi),
        (minimum, hi, bottom, tmp), (maximum, hi, bottom, hi),
        (minimum, lo, tmp, mid), (maximum, lo, tmp, tmp),
    ]
    lo, mid = mid, tmp
    steps += [  # a = max of the lows, b = min of the highs, c = median of the middles, m = median of (a, b, c)
        (maximum, lo[:n], lo[1 : n + 1], a), (maximum, a, lo[2:], a),
        (minimum, hi[:n], hi[1 : n + 1], b), (minimum, b, hi[2:], b),
        (minimum, mid[:n], mid[1 : n + 1], c), (maximum, mid[:n], mid[1 : n + 1], m),
        (minimum, m, mid[2:], m), (maximum, c, m, c),
        (minimum, a, c, m), (maximum, a, c, a),
        (minimum, a, b, a), (maximum, m, a, m),
    ]
    return flip[:reach], keys[:reach, 1], steps, m.view(torch.int32)[::2]


def _reflection_pad_backward(grad_padded: torch.Tensor) -> torch.Tensor:
    """reflection_pad2d_backward for a 1-pixel pad, in its summation order (padded pixels in row-major order, each
    added into the pixel it reflects), with nine slice additions instead of ATen's slower per-pixel loop."""
    height, width = grad_padded.shape[-2] - 2, grad_padded.shape[-1] - 2
    grad = grad_padded.new_zeros(*grad_padded.shape[:-2], height, width)
    rows = (  # (padded rows, the rows they add into), in padded-row order
        (grad_padded[..., :1, :], grad[..., 1:2, :]),
        (grad_padded[..., 1:-1, :], grad),
        (grad_padded[..., -1:, :], grad[..., height - 2 : height - 1, :]),
    )
    for source, target in rows:
        target[..., 1] += source[..., 0]
        target += source[..., 1:-1]
        target[..., width - 2] += source[..., -1]
    return grad


def _add_median_grad_serially(grad: torch.Tensor, positions: torch.Tensor, grad_padded: torch.Tensor) -> None:
    """kornia's conv2d backward adds each window's gradient into the padded map in window-position order, i.e. for
    one padded pixel from the window with the highest top-left corner down; index_add_ on the CPU adds serially,
    so it gets the same sums from the windows reversed."""
    grad_padded.view(-1).index_add_(0, positions.flip(0), grad.flatten().flip(0))


def _add_median_grad_by_offset(grad: torch.Tensor, positions: torch.Tensor, grad_padded: torch.Tensor) -> None:
    """The same sums in the same order without index_add_ (unordered atomics on CUDA): for each of the nine window
    offsets in row-major order, the gradient of the windows whose median sits there, added as one shifted slice."""
    height, width = grad.shape[-2:]
    row = width + 2
    corners = torch.arange(grad_padded.numel(), dtype=torch.int32, device=grad.device).view_as(grad_padded)
    offsets = positions.view_as(grad) - corners[..., :height, :width]
    for dy in range(KERNEL_SIZE):
        for dx in range(KERNEL_SIZE):
            grad_padded[..., dy : dy + height, dx : dx + width] += torch.where(offsets == dy * row + dx, grad, 0)


# (windows per selection pass, gradient scatter) by device. On the CPU the selection's eight int64 buffers stay in a
# core's L2 cache; on a GPU kernel launches cost, not cache misses, so a training batch goes in one pass.
MEDIAN_STRATEGIES = {
    "cpu": (32768, _add_median_grad_serially),
    "accelerator": (1 << 22, _add_median_grad_by_offset),
}


def _median_strategy(device: torch.device):
    return MEDIAN_STRATEGIES["cpu" if device.type == "cpu" else "accelerator"]


class _Median3x3(torch.autograd.Function):
    """Forward: the median neighbour's position (torch.median's choice among ties) and its value.
    Backward: the gradient added into the padded map in kornia's order, then the reflect-padding backward, as
    kornia's."""

    @staticmethod
    def forward(ctx, x):
        height, width = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect").contiguous()
        flat = padded.view(-1)
        row = width + 2
        positions = torch.empty_like(flat, dtype=torch.int32)
        span = flat.numel() - 2 * row - 2  # window corners whose window lies inside `flat`
        _median_positions(flat, row, positions[:span], _median_strategy(x.device)[0])
        positions = positions.view_as(padded)[..., :height, :width].flatten()
        ctx.save_for_backward(x, positions)
        return flat.index_select(0, positions).view_as(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, positions = ctx.saved_tensors
        grad_padded = grad.new_zeros(*x.shape[:-2], x.shape[-2] + 2, x.shape[-1] + 2)
        _median_strategy(grad.device)[1](grad, positions, grad_padded)
        return _reflection_pad_backward(grad_padded)


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
