import pytest
import torch

from saliency.nets import build_model
from saliency.smoothing import SmoothingBlock


@pytest.mark.parametrize("variant", ["N", "A", "M1", "M2", "G"])
def test_fmnist_models_give_ten_logits(variant):
    model = build_model("fmnist", variant)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    has_block = any(isinstance(m, SmoothingBlock) for m in model)
    assert has_block == (variant in {"M1", "M2", "G"})


def test_fmnist_architecture_is_the_studys():
    convs = [m for m in build_model("fmnist", "N").modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in build_model("fmnist", "N").modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    assert [lin.out_features for lin in linears] == [1024, 10]


def test_smoothing_position_is_configurable():
    model = build_model("fmnist", "M2", smoothing_position=2)
    assert isinstance(model[2], SmoothingBlock) and model[2].mix.in_channels == 64
    with pytest.raises(ValueError, match="between 1 and 2"):
        build_model("fmnist", "M2", smoothing_position=3)


def test_wide_resnet_depth_and_width_are_configurable():
    model = build_model("cifar10", "G", depth=10, widen_factor=2)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert model[1].mix.in_channels == 16  # after the first conv
    with pytest.raises(ValueError, match="6n\\+4"):
        build_model("cifar10", "N", depth=12)


def test_imagenette_uses_torchvision_resnet18_with_ten_classes():
    model = build_model("imagenette", "M1")
    assert model(torch.rand(1, 3, 224, 224)).shape == (1, 10)
    assert model[-1][-1].in_features == 512


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="fmnist, cifar10, imagenette"):
        build_model("mnist", "N")
    with pytest.raises(ValueError, match="N, A, M1, M2, G"):
        build_model("fmnist", "X")
