import pytest
import torch

from saliency.attribution import predict, vanilla_gradient
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
