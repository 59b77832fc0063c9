"""L-inf attacks on models whose inputs live in [0, 1]."""

import torch
import torch.nn.functional as F


def _input_gradient(model, x, y):
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def pgd(model, x, y, eps, step, steps, generator=None):
    """PGD (Madry et al. 2018): random start in the eps ball, `steps` signed-gradient steps, projected."""
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps, generator=generator)).clamp(0, 1)
    for _ in range(steps):
        grad = _input_gradient(model, x_adv, y)
        x_adv = torch.min(torch.max(x_adv + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def fgsm_random_start(model, x, y, eps, step, generator=None):
    """FGSM with random start (Wong et al. 2020, "Fast is better than free"): one PGD step of size `step`."""
    return pgd(model, x, y, eps, step, steps=1, generator=generator)
