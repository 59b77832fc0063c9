"""Vanilla Gradient (VG) saliency with captum, for the class the model predicts."""

import torch
from captum.attr import Saliency


def predict(model, images):
    """(predicted class, its softmax probability) per image."""
    with torch.no_grad():
        probabilities = torch.softmax(model(images), dim=1)
    confidence, predicted = probabilities.max(dim=1)
    return predicted, confidence


def vanilla_gradient(model, images, target):
    """|d logit_target / d image|, max over colour channels: one (H, W) map per image."""
    attributions = Saliency(model).attribute(images.detach().requires_grad_(), target=target, abs=True)
    return attributions.max(dim=1).values.detach()
