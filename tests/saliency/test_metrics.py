"""saliency.metrics against quantus 0.6.0 on the same maps, inputs and noise (quantus: a test dependency)."""

import numpy as np
import pytest
import quantus
import torch
from quantus.functions.perturb_func import noisy_linear_imputation
from quantus.functions.similarity_func import ssim as quantus_ssim

from saliency import metrics
from saliency.attribution import METHODS, predict, vanilla_gradient
from saliency.training import load_checkpoint

CHECKPOINTS = "fixtures/models"


@pytest.fixture(scope="module")
def natural(fmnist_test):
    """The shipped N model and 6 test images it classifies correctly, with their VG maps (no ties)."""
    model, _ = load_checkpoint(CHECKPOINTS, "fmnist", "N", "cpu")
    images, labels = fmnist_test[torch.arange(40)]
    keep = (predict(model, images)[0] == labels).nonzero().squeeze(1)[:6]
    images, labels = images[keep], labels[keep]
    return model, images, labels, vanilla_gradient(model, images, labels)


def quantus_explain(model, inputs, targets, **kwargs):
    """quantus's explain_func protocol, computing our VG maps: (B, 1, H, W) numpy."""
    maps = vanilla_gradient(model, torch.as_tensor(inputs), torch.as_tensor(targets))
    return maps.unsqueeze(1).numpy()


def test_gini_equals_quantus_sparseness(natural):
    model, images, labels, maps = natural
    torch.manual_seed(0)
    signed = torch.randn(3, 28, 28, dtype=torch.float64)
    one_hot = torch.zeros(1, 28, 28, dtype=torch.float64)
    one_hot[0, 3, 4] = 2.0
    cases = torch.cat([maps.double(), signed, one_hot])
    ours = metrics.gini(cases)
    x = torch.rand(1, 1, 28, 28).numpy()
    # One map per call: quantus normalises by the maximum over all maps of a call, we by each map's own maximum.
    theirs = [quantus.Sparseness(disable_warnings=True)(
        model=model, x_batch=x, y_batch=np.zeros(1, dtype=int), a_batch=case[None, None].numpy())[0]
        for case in cases]
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12)
    assert ours[-1] == pytest.approx(783 / 784, rel=1e-4)
    uniform = torch.full((1, 28, 28), 0.5)  # quantus refuses uniform maps
    assert metrics.gini(uniform).item() == pytest.approx(0, abs=1e-12)


def quantus_uniform_draws(seed, samples, shape):
    """The draws quantus's batch_uniform_noise makes after np.random.seed(seed), one (B, D) per sample."""
    np.random.seed(seed)
    low, high = metrics.STABILITY_NOISE
    return np.stack([np.random.uniform(low=low, high=high, size=(shape[0], int(np.prod(shape[1:]))))
                     for _ in range(samples)]).reshape(samples, *shape)


@pytest.mark.parametrize("metric_class, position", [
    (quantus.RelativeInputStability, 0), (quantus.RelativeOutputStability, 1),
])
def test_relative_stability_equals_quantus_with_the_same_noise(natural, metric_class, position):
    model, images, labels, maps = natural
    samples = 12
    np.random.seed(1)
    theirs = metric_class(nr_samples=samples, disable_warnings=True)(
        model=model, x_batch=images.numpy(), y_batch=labels.numpy(), a_batch=maps.unsqueeze(1).numpy(),
        explain_func=quantus_explain, batch_size=len(images))
    draws = quantus_uniform_draws(1, samples, images.shape)
    # quantus perturbs in float32: x' = float32(x + noise); ours differs from it by at most an ulp.
    noise = torch.from_numpy((images.numpy()[None] + draws).astype(np.float32)) - images
    ours = metrics.relative_stability(model, METHODS["VG"], images, labels, maps, noise, batch_size=20)[position]
    theirs = np.asarray(theirs, dtype=np.float64)
    assert np.isfinite(theirs).sum() >= 3  # most perturbations keep N's class
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, equal_nan=True)


def test_relative_stability_is_nan_when_noise_changes_the_class(natural):
    model, images, labels, maps = natural
    noise = torch.zeros(3, *images.shape)
    noise[1, 0] = 5.0  # sample 1 of image 0 pushes the image far out of its class
    changed = predict(model, images[:1] + 5.0)[0] != labels[:1]
    assert changed.all()
    ris, ros = metrics.relative_stability(model, METHODS["VG"], images, labels, maps, noise)
    assert torch.isnan(ris[0]) and torch.isnan(ros[0])
    assert torch.isfinite(ris[1:]).all() and torch.isfinite(ros[1:]).all()


def test_linear_imputation_equals_quantus_with_the_same_noise(natural):
    model, images, labels, maps = natural
    masks = metrics.removal_masks(maps)
    n = 28 * 28
    for step, percentage in [(0, 1), (12, 25), (30, 61), (49, 99)]:
        for i in range(len(images)):
            top = np.argsort(-maps[i].numpy().ravel())[: int(n * percentage / 100)]  # quantus ROAD's order
            assert set(np.flatnonzero(masks[i, step].numpy().ravel())) == set(top)
            np.random.seed(step)
            theirs = noisy_linear_imputation(images[i].numpy(), top, noise=metrics.ROAD_NOISE)
            np.random.seed(step)
            noise = torch.zeros(n)
            noise[top] = torch.from_numpy(np.random.randn(1, len(top))[0]).float()
            missing = masks[i : i + 1, step].unsqueeze(1)
            ours = (metrics.linear_imputation(images[i : i + 1], missing)
                    + missing * metrics.ROAD_NOISE * noise.view(1, 1, 28, 28))
            np.testing.assert_allclose(ours[0].numpy(), theirs, atol=1e-5)  # float32 solver stopped at 1e-6; the ROAD noise is 1e-2


def test_linear_imputation_on_worst_case_masks():
    """Nearly everything removed, the kept pixels in one corner or row: the slowest systems to solve."""
    torch.manual_seed(0)
    images = torch.rand(3, 1, 28, 28)
    rows, columns = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    maps = torch.stack([-(rows + columns), -rows * 28 - columns, torch.rand(28, 28)])
    masks = metrics.removal_masks(maps)[:, -1]
    ours = metrics.linear_imputation(images, masks.unsqueeze(1))
    for i in range(3):
        top = np.argsort(-maps[i].numpy().ravel(), kind="stable")[: int(784 * 99 / 100)]
        theirs = noisy_linear_imputation(images[i].numpy(), top, noise=0.0)
        np.testing.assert_allclose(ours[i].numpy(), theirs, atol=1e-5)


def test_road_accuracy_curve_equals_quantus_with_the_same_noise(natural):
    model, images, labels, maps = natural
    percentages = [1, 9, 33, 67, 91]
    np.random.seed(3)
    theirs = quantus.ROAD(percentages=percentages, disable_warnings=True)(
        model=model, x_batch=images.numpy(), y_batch=labels.numpy(), a_batch=maps.unsqueeze(1).numpy(),
        batch_size=len(images))
    np.random.seed(3)  # quantus draws randn(1, k) per percentage, then per image, in its ROAD order
    noise = torch.zeros(len(percentages), *images.shape)
    for step, percentage in enumerate(percentages):
        for i in range(len(images)):
            top = np.argsort(-maps[i].numpy().ravel())[: int(784 * percentage / 100)]
            noise[step, i].view(-1)[torch.from_numpy(top)] = torch.from_numpy(np.random.randn(1, len(top))[0]).float()
    probabilities = metrics.road_probabilities(model, images, maps, percentages, noise=noise)
    accuracy = (probabilities.argmax(dim=2)[:, 1:] == labels.unsqueeze(1)).double().mean(dim=0)
    assert accuracy.tolist() == pytest.approx([theirs[p] for p in percentages], abs=1e-12)
    assert accuracy[0] == 1 and accuracy[-1] < 1


def test_road_aopc_is_the_mean_probability_drop():
    probabilities = torch.tensor([[[0.1, 0.9], [0.3, 0.7], [0.6, 0.4]]])  # image, then two removal steps
    assert metrics.road_aopc(probabilities, torch.tensor([1])).item() == pytest.approx((0 + 0.2 + 0.5) / 3)


def test_ssim_equals_quantus_ssim(natural):
    model, images, labels, maps = natural
    torch.manual_seed(0)
    first = torch.cat([maps.double(), torch.randn(2, 28, 28, dtype=torch.float64)])
    second = torch.cat([maps.double().flip(0), torch.randn(2, 28, 28, dtype=torch.float64)])
    ours = metrics.ssim(first, second)
    theirs = quantus_ssim(first.numpy(), second.numpy(), batched=True)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10)
    assert metrics.ssim(first, first).tolist() == pytest.approx([1.0] * len(first))


def test_noisy_copies_keep_the_class_and_differ_from_the_image(natural):
    model, images, labels, maps = natural
    generator = torch.Generator().manual_seed(0)
    copies, kept = metrics.noisy_copies(model, images, generator)
    assert kept.all()
    assert torch.equal(predict(model, copies)[0], labels)
    assert (copies - images).std() == pytest.approx(metrics.SSIM_NOISE, rel=0.1)


def test_every_metric_on_the_meta_device_stays_there(natural):
    """No tensor is made on the CPU behind the inputs' back (the ROAD solver reads a flag, so it cannot run here)."""
    model, images, labels, maps = natural
    model = load_checkpoint(CHECKPOINTS, "fmnist", "N", "cpu")[0].to("meta")
    images, labels, maps = images.to("meta"), labels.to("meta"), maps.to("meta")
    noise = metrics.stability_noise(images.shape, 3, "meta")
    for method in METHODS.values():
        ris, ros = metrics.relative_stability(model, method, images, labels, maps, noise)
        assert ris.device.type == ros.device.type == "meta" and ris.shape == (len(images),)
        assert metrics.noisy_copy_ssim(model, method.explain, images, labels, maps).device.type == "meta"
    assert metrics.gini(maps).device.type == "meta"
    assert metrics.removal_masks(maps).device.type == "meta"


@pytest.mark.parametrize(("ours", "theirs"), [("VG", "Saliency"), ("IG", "IntegratedGradients")])
def test_maps_equal_quantus_explain(natural, ours, theirs):
    """VG and IG as quantus.explain makes them (IG: zero baseline, 10 steps, trapezoid rule)."""
    model, images, labels, maps = natural
    expected = quantus.explain(model, images.numpy(), labels.numpy(), method=theirs)
    np.testing.assert_allclose(METHODS[ours].explain(model, images, labels).numpy(), expected[:, 0], rtol=1e-5,
                               atol=1e-7)


def test_image_chunks_depend_on_the_image_size_only():
    assert metrics.image_chunks(torch.zeros(250, 1, 28, 28)) == [slice(0, 100), slice(100, 200), slice(200, 300)]
    assert metrics.image_chunks(torch.zeros(30, 3, 32, 32))[0] == slice(0, 25)
    assert metrics.image_chunks(torch.zeros(3, 3, 224, 224)) == [slice(0, 1), slice(1, 2), slice(2, 3)]
