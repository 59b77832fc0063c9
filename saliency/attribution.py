"""Saliency maps with captum: Vanilla Gradient, IG, SmoothGrad and Grad-CAM of a target class per image (the class
the model predicts, or another of its top classes).

Every method returns one (H, W) map per image, computed on the images' device.
"""

from dataclasses import dataclass

import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency

# Integrated Gradients as quantus.explain runs it (zero baseline, 10 steps, trapezoid rule); the study leaves it open.
IG_STEPS = 10
IG_RULE = "riemann_trapezoid"
# SmoothGrad: |gradient| averaged over noisy copies, Gaussian noise of 15 % of the [0, 1] range
# (Smilkov et al. 2017 recommend 10-20 %).
SG_SAMPLES = 10
SG_STDEV = 0.15


def ranked_classes(model, images, k):
    """(classes, probabilities), each (B, k): every image's k most probable classes, most probable first, with their
    softmax probabilities. Of equally probable classes the lower index comes first, as argmax takes it."""
    with torch.no_grad():
        probabilities = torch.softmax(model(images), dim=1)
    values, classes = probabilities.sort(dim=1, descending=True, stable=True)
    return classes[:, :k], values[:, :k]


def predict(model, images):
    """(predicted class, its softmax probability) per image."""
    classes, probabilities = ranked_classes(model, images, 1)
    return classes[:, 0].contiguous(), probabilities[:, 0].contiguous()


def vanilla_gradient(model, images, target):
    """|d logit_target / d image|, max over colour channels: one (H, W) map per image."""
    attributions = Saliency(model).attribute(images.detach().requires_grad_(), target=target, abs=True)
    return attributions.max(dim=1).values.detach()


def integrated_gradients(model, images, target):
    """Integrated Gradients from an all-zero image, summed over colour channels (signed)."""
    images = images.detach()
    attributions = IntegratedGradients(model).attribute(
        images, baselines=torch.zeros_like(images), target=target, n_steps=IG_STEPS, method=IG_RULE)
    return attributions.sum(dim=1).detach()


def smoothgrad(model, images, target):
    """SmoothGrad (captum NoiseTunnel over Saliency): |gradient| averaged over noisy copies, max over channels.

    The noise comes from torch's global generator of the images' device: seed it for reproducible maps.
    """
    attributions = NoiseTunnel(Saliency(model)).attribute(
        images.detach().requires_grad_(), nt_type="smoothgrad", nt_samples=SG_SAMPLES, stdevs=SG_STDEV,
        target=target, abs=True)
    return attributions.max(dim=1).values.detach()


def gradcam(model, images, target):
    """Grad-CAM (captum LayerGradCam, ReLU of the weighted sum) of the last feature stage, the one before the
    classifier head (model[-2] of the study's staged networks), bilinearly upsampled to the image size."""
    layer_maps = LayerGradCam(model, model[-2]).attribute(images.detach(), target=target, relu_attributions=True)
    return LayerAttribution.interpolate(layer_maps, tuple(images.shape[2:]), "bilinear")[:, 0].detach()


@dataclass(frozen=True)
class Method:
    name: str
    explain: object  # explain(model, images, target) -> (B, H, W) maps
    passes: int  # gradient passes per image, to size batches
    forwards_the_inputs: bool = False  # its one forward pass is on the images themselves (not scaled or noisy)

    def explain_with_logits(self, model, images, target):
        """(maps, logits of the images). Where the method's own forward pass is on the images, its logits are
        caught there (a forward hook), which spares a second forward pass; else the model runs once more."""
        if not self.forwards_the_inputs:
            maps = self.explain(model, images, target)
            with torch.no_grad():
                return maps, model(images)
        caught = []
        hook = model.register_forward_hook(lambda module, inputs, output: caught.append(output.detach()))
        try:
            maps = self.explain(model, images, target)
        finally:
            hook.remove()
        (logits,) = caught
        return maps, logits


METHODS = {
    "VG": Method("VG", vanilla_gradient, 1, forwards_the_inputs=True),
    "IG": Method("IG", integrated_gradients, IG_STEPS),
    "SG": Method("SG", smoothgrad, SG_SAMPLES),
    "GradCAM": Method("GradCAM", gradcam, 1, forwards_the_inputs=True),
}
