import torch
import torch.nn.functional as F

from saliency.attacks import fgsm_random_start, pgd
from saliency.data import batches
from saliency.nets import build_model


def _model_and_batch(fmnist_test):
    torch.manual_seed(0)
    model = build_model("fmnist", "M2").eval()
    x, y = next(batches(fmnist_test, 64, indices=torch.arange(64)))
    return model, x, y


def test_pgd_stays_in_the_eps_ball_and_the_unit_box_and_raises_the_loss(fmnist_test):
    model, x, y = _model_and_batch(fmnist_test)
    x_adv = pgd(model, x, y, eps=0.1, step=0.01, steps=10, generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_fgsm_with_random_start_stays_in_the_ball(fmnist_test):
    model, x, y = _model_and_batch(fmnist_test)
    x_adv = fgsm_random_start(model, x, y, eps=0.1, step=0.125)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)


def test_pgd_is_reproducible_with_a_seeded_generator(fmnist_test):
    model, x, y = _model_and_batch(fmnist_test)
    runs = [pgd(model, x, y, 0.1, 0.01, 3, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*runs)
