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
