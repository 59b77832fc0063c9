import pytest
import torch

from saliency.attribution import METHODS, predict, vanilla_gradient
from saliency.nets import build_model


@pytest.mark.parametrize(("dataset", "variant", "shape", "arch"), [
    ("fmnist", "M2", (4, 1, 28, 28), {}),
    ("cifar10", "A", (3, 3, 32, 32), {"depth": 10, "widen_factor": 1}),
])
def test_captum_vg_equals_the_autograd_gradient_of_the_class_logit(dataset, variant, shape, arch):
    torch.manual_seed(0)
    model = build_model(dataset, variant, **arch).eval()
    images = torch.rand(shape)
    predicted, confidence = predict(model, images)
    maps = vanilla_gradient(model, images, predicted)
    x = images.clone().requires_grad_()
    logits = model(x)
    (grad,) = torch.autograd.grad(logits.gather(1, predicted[:, None]).sum(), x)
    assert maps.shape == (shape[0], shape[2], shape[3])
    assert torch.allclose(maps, grad.abs().max(dim=1).values, atol=0, rtol=1e-6)
    assert torch.allclose(confidence, torch.softmax(logits, 1).max(1).values.detach())


@pytest.mark.parametrize("name", METHODS)
def test_maps_come_with_the_logits_of_the_images_themselves(name):
    """VG's own forward pass is on the images, so their logits are caught there; the others run the model again."""
    torch.manual_seed(0)
    model = build_model("fmnist", "M2").eval()
    images = torch.rand(5, 1, 28, 28)
    target = predict(model, images)[0]
    torch.manual_seed(1)  # SmoothGrad's noise
    maps, logits = METHODS[name].explain_with_logits(model, images, target)
    torch.manual_seed(1)
    assert torch.equal(maps, METHODS[name].explain(model, images, target))
    with torch.no_grad():
        assert torch.equal(logits, model(images))
    assert not logits.requires_grad and not model._forward_hooks  # the hook is gone


@pytest.mark.parametrize(("dataset", "variant", "shape", "arch"), [
    ("fmnist", "M2", (4, 1, 28, 28), {}),
    ("cifar10", "N", (2, 3, 32, 32), {"depth": 10, "widen_factor": 1}),
])
def test_gradcam_is_the_relu_of_channel_weighted_last_features_upsampled(dataset, variant, shape, arch):
    """Grad-CAM by hand: features A of the stage before the head, weights = spatial mean of d logit / d A,
    ReLU(sum_k w_k A_k), bilinear to the image size."""
    torch.manual_seed(0)
    model = build_model(dataset, variant, **arch).eval()
    images = torch.rand(shape)
    target = predict(model, images)[0]
    last = model[:-1](images).detach().requires_grad_()
    (grad,) = torch.autograd.grad(model[-1](last).gather(1, target[:, None]).sum(), last)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * last).sum(dim=1, keepdim=True))
    expected = torch.nn.functional.interpolate(cam, size=shape[2:], mode="bilinear")[:, 0]
    maps = METHODS["GradCAM"].explain(model, images, target)
    assert maps.shape == (shape[0], *shape[2:])
    assert torch.allclose(maps, expected, rtol=1e-5, atol=1e-7)
    assert (maps >= 0).all() and maps.flatten(1).amax(dim=1).gt(0).any()


def test_the_stimulus_records_offer_exactly_the_methods_there_are():
    """saliency.models.Method (the commands' choices, without torch) names what attribution.METHODS computes."""
    from saliency.models import Method

    assert list(Method.values) == list(METHODS)
