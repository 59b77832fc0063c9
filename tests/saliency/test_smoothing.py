import pytest
import torch
from kornia.filters import median_blur

from saliency import smoothing
from saliency.smoothing import MEDIAN_STRATEGIES, SmoothingBlock, median3x3, study_sigma

INPUTS = {
    "gaussian noise": lambda: torch.randn(3, 5, 9, 11),
    "after ReLU (many tied zeros)": lambda: torch.relu(torch.randn(4, 8, 14, 14)),
    "few distinct values (ties everywhere)": lambda: torch.randint(0, 3, (2, 4, 7, 6)).float(),
    "smallest map": lambda: torch.randn(1, 2, 2, 2),
}


STRATEGIES = {
    **MEDIAN_STRATEGIES,
    # Chunks of 97 windows: many passes, chunk boundaries inside rows, a shorter last chunk.
    "cpu, small chunks": (97, MEDIAN_STRATEGIES["cpu"][1]),
}


@pytest.fixture(params=STRATEGIES)
def median_strategy(request, monkeypatch):
    """Every device's median code, run here on the CPU (the accelerator's is the one CUDA runs)."""
    monkeypatch.setattr(smoothing, "_median_strategy", lambda device: STRATEGIES[request.param])


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("seed", range(3))
def test_fast_median_equals_kornia_output_and_gradient(name, seed, median_strategy):
    torch.manual_seed(seed)
    x = INPUTS[name]()
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    upstream = torch.randn_like(x)
    out_ours, out_theirs = median3x3(ours), median_blur(theirs, 3)
    out_ours.backward(upstream)
    out_theirs.backward(upstream)
    assert torch.equal(out_ours, out_theirs)
    assert torch.equal(ours.grad, theirs.grad)


def test_fast_median_takes_its_strategy_from_the_input_device():
    assert smoothing._median_strategy(torch.device("cpu")) is MEDIAN_STRATEGIES["cpu"]
    for device in ("cuda", "meta"):
        assert smoothing._median_strategy(torch.device(device)) is MEDIAN_STRATEGIES["accelerator"]


def test_fast_median_creates_nothing_off_the_input_device():
    # The meta device computes shapes only and refuses any copy to or from another device (CUDA's failure mode).
    x = torch.randn(2, 3, 9, 7, device="meta", requires_grad=True)
    y = median3x3(x)
    (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert y.device.type == grad.device.type == "meta"
    assert y.shape == grad.shape == x.shape


def test_fast_median_without_grad_equals_kornia_network_path():
    x = torch.relu(torch.randn(2, 3, 10, 10))
    assert torch.equal(median3x3(x), median_blur(x, 3))


@pytest.mark.parametrize("kind", ["mean", "median", "gaussian"])
def test_block_keeps_shape_and_passes_gradients(kind):
    block = SmoothingBlock(6, kind)
    x = torch.rand(2, 6, 12, 12, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad.abs().sum() > 0
    assert block.mix.weight.grad.abs().sum() > 0


def test_block_is_a_residual_of_the_smoothed_map():
    block = SmoothingBlock(3, "median")
    torch.nn.init.zeros_(block.mix.weight)
    torch.nn.init.zeros_(block.mix.bias)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(block(x), x)
    torch.nn.init.dirac_(block.mix.weight)
    assert torch.allclose(block(x), x + median_blur(x, 3))


def test_gaussian_sigma_follows_the_study_rule():
    assert study_sigma(28, 28) == pytest.approx((0.3 * (13.5 - 1) + 0.8,) * 2)
    assert study_sigma(32, 224) == pytest.approx((0.3 * (15.5 - 1) + 0.8, 0.3 * (111.5 - 1) + 0.8))


def test_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="mean, median, gaussian"):
        SmoothingBlock(3, "bilateral")
