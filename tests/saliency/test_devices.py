"""Every variant of every architecture runs on the device of its model and inputs, with nothing created elsewhere.

No test machine has a GPU, so these run on PyTorch's `meta` device: it computes shapes only and refuses any copy
to or from another device, which is how CUDA fails when a buffer is made on the CPU (issue: M2 crashed on CUDA).
Models are built on the CPU and moved, as the commands do, so a tensor that a module keeps outside its parameters
and buffers would stay behind and fail here too.
"""

from dataclasses import replace

import pytest
import torch

from saliency.attribution import predict, vanilla_gradient
from saliency.data import TensorImages
from saliency.devices import DeviceError, resolve_device, seeded_generator
from saliency.nets import DATASET_SPECS, VARIANT_FILTERS
from saliency.training import (
    PRESET_NAMES,
    correct_predictions,
    get_preset,
    load_checkpoint,
    make_model,
    save_checkpoint,
    train,
    training_step,
)

META = torch.device("meta")


def _batch(dataset, size=3):
    shape = DATASET_SPECS[dataset][1]
    return torch.rand(size, *shape, device=META), torch.zeros(size, dtype=torch.long, device=META)


def _few_steps(preset):
    """The preset with at most two attack steps, for speed: the steps repeat the same code."""
    return replace(preset, attack_steps=min(preset.attack_steps, 2), eval_steps=2)


@pytest.mark.parametrize("preset_name", PRESET_NAMES)  # paper: PGD; cpu: FGSM with random start
@pytest.mark.parametrize("variant", VARIANT_FILTERS)
@pytest.mark.parametrize("dataset", DATASET_SPECS)
def test_training_step_robust_evaluation_and_vg_stay_on_the_model_device(dataset, variant, preset_name):
    preset = _few_steps(get_preset(preset_name, dataset))
    model = make_model(dataset, variant, preset).to(META)
    optimizer = torch.optim.Adam(model.parameters()) if preset.optimizer == "adam" else torch.optim.SGD(
        model.parameters(), lr=preset.lr, momentum=preset.momentum)
    x, y = _batch(dataset)

    loss = training_step(model.train(), optimizer, x, y, variant, preset, seeded_generator(META, 0))
    assert loss.device == META and loss.shape == ()
    assert all(p.device == META for p in model.parameters())

    model.eval()
    for attack in (None, preset):  # benign, then robust (PGD)
        correct = correct_predictions(model, x, y, attack, seeded_generator(META, 0))
        assert correct.device == META and correct.dtype == torch.int64

    predicted, confidence = predict(model, x)
    saliency = vanilla_gradient(model, x, predicted)
    assert predicted.device == confidence.device == saliency.device == META
    assert saliency.shape == (len(x), *x.shape[2:])


def test_training_loop_moves_batches_to_the_model_device():
    preset = replace(_few_steps(get_preset("paper", "fmnist")), epochs=2)
    images = torch.randint(0, 256, (96, 1, 28, 28), dtype=torch.uint8)
    data = TensorImages(images, torch.randint(0, 10, (96,)), range(10))
    model = make_model("fmnist", "M2", preset)
    seen, _ = train(model, data, "M2", preset, max_batches=2, device=META)
    assert seen == 2 * 2 * preset.batch_size
    assert all(p.device == META for p in model.parameters())


def test_checkpoints_load_onto_the_asked_device(tmp_path):
    preset = get_preset("cpu", "fmnist")
    model = make_model("fmnist", "M2", preset)
    metadata = {"dataset": "fmnist", "variant": "M2", "preset": "cpu", "preset_settings": preset.__dict__,
                "smoothing_position": 1}
    save_checkpoint(model, metadata, tmp_path)
    loaded, _ = load_checkpoint(tmp_path, "fmnist", "M2", "cpu", device=META)
    assert all(t.device == META for t in (*loaded.parameters(), *loaded.buffers()))
    on_cpu, _ = load_checkpoint(tmp_path, "fmnist", "M2", "cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), on_cpu.state_dict().values()))


def test_generators_are_made_on_the_device_they_draw_for():
    generator = seeded_generator("cpu", 7)
    assert generator.device.type == "cpu" and generator.initial_seed() == 7
    assert seeded_generator(META, 7) is None  # meta draws nothing


def test_auto_picks_cuda_only_when_torch_sees_it_and_cuda_without_it_is_an_error():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="sees no CUDA device; use --device cpu or auto"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="auto, cpu, cuda"):
        resolve_device("tpu")
