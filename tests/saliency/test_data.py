"""The loaders on real Fashion-MNIST and on tiny CIFAR-10 / ImageNette folders in their real on-disk formats."""

import gzip
import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from saliency import data
from saliency.data import DataError, load_split

DEBIAN_FMNIST = data.DEBIAN_FMNIST
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_real_fashion_mnist_loads_into_unit_range(fmnist_test, fmnist_cache):
    assert fmnist_test.images.shape == (10000, 1, 28, 28)
    x, y = fmnist_test[torch.arange(5)]
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert fmnist_test.classes[int(fmnist_test.targets[0])] == "Ankle boot"  # the first t10k image
    assert (fmnist_cache / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def _copy_fmnist(folder):
    folder.mkdir(parents=True)
    for name in data.FMNIST_FILES:
        shutil.copy(DEBIAN_FMNIST / f"{name}.gz", folder / f"{name}.gz")


@pytest.fixture
def no_debian_fmnist(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "not-installed")


def test_missing_fashion_mnist_names_the_paths_and_the_package(tmp_path, no_debian_fmnist):
    with pytest.raises(DataError, match="not-installed.*dataset-fashion-mnist"):
        load_split("fmnist", False, data_root=tmp_path / "empty", cache_dir=tmp_path / "cache")


def test_truncated_fashion_mnist_file_is_reported(tmp_path, no_debian_fmnist):
    _copy_fmnist(tmp_path / "root" / "fashion-mnist")
    broken = tmp_path / "root" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:5000])
    with pytest.raises(DataError, match="Cannot decompress.*t10k-images-idx3-ubyte.gz"):
        load_split("fmnist", False, data_root=tmp_path / "root", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_fashion_mnist_file_with_wrong_contents_is_reported(tmp_path, no_debian_fmnist):
    _copy_fmnist(tmp_path / "root" / "fashion-mnist")
    with gzip.open(tmp_path / "root" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"not an idx file at all")
    with pytest.raises(DataError, match="Malformed Fashion-MNIST"):
        load_split("fmnist", False, data_root=tmp_path / "root", cache_dir=tmp_path / "cache")


def _write_cifar(root, per_batch=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"batch_label": name, "labels": rng.integers(0, 10, per_batch).tolist(),
                 "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "filenames": ["x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_CLASSES, "num_vis": 3072}))
    return folder


def test_cifar10_loader_reads_the_pickle_batches(tmp_path):
    folder = _write_cifar(tmp_path)
    train, test = load_split("cifar10", True, tmp_path), load_split("cifar10", False, tmp_path)
    assert len(train) == 20 and len(test) == 4 and test.classes == CIFAR_CLASSES
    x, y = test[torch.arange(4)]
    raw = pickle.loads((folder / "test_batch").read_bytes())
    assert x.shape == (4, 3, 32, 32)
    assert torch.equal((x * 255).round().to(torch.uint8).reshape(4, -1), torch.from_numpy(raw["data"]))
    assert y.tolist() == raw["labels"]


def test_cifar10_needs_a_data_root(tmp_path):
    with pytest.raises(DataError, match="--data-root.*cs.toronto.edu"):
        load_split("cifar10", False, None)
    with pytest.raises(DataError, match="missing .*cifar-10-batches-py"):
        load_split("cifar10", False, tmp_path)


def test_cifar10_corrupt_batch_is_reported(tmp_path):
    folder = _write_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="Malformed CIFAR-10.*cifar-10-batches-py"):
        load_split("cifar10", False, tmp_path)


def _write_imagenette(root, wnids=("n01440764", "n03888257")):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, wnid in enumerate(wnids):
            folder = root / "imagenette2-320" / split / wnid
            folder.mkdir(parents=True)
            pixels = rng.integers(0, 256, (300, 320, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{wnid}_1.JPEG")
            Image.fromarray(pixels).save(folder / f"{wnid}_2.png")


def test_imagenette_folder_loads_with_readable_class_names(tmp_path):
    _write_imagenette(tmp_path)
    val = load_split("imagenette", False, tmp_path)
    assert val.classes == ["tench", "parachute"] and len(val) == 4
    x, y = next(data.batches(val, 4))
    assert x.shape == (4, 3, 224, 224) and 0 <= x.min() and x.max() <= 1 and y.tolist() == [0, 0, 1, 1]
    assert len(load_split("imagenette", True, tmp_path)) == 4


def test_imagenette_missing_folders_are_reported(tmp_path):
    with pytest.raises(DataError, match="ImageNette folder not found.*imagenette2-320.*fastai"):
        load_split("imagenette", False, tmp_path)
    (tmp_path / "imagenette2-320" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="split folder missing.*val"):
        load_split("imagenette", False, tmp_path)
    (tmp_path / "imagenette2-320" / "val").mkdir()
    with pytest.raises(DataError, match="No class folders"):
        load_split("imagenette", False, tmp_path)


def test_imagenette_unreadable_image_is_reported(tmp_path):
    _write_imagenette(tmp_path)
    (tmp_path / "imagenette2-320" / "val" / "n01440764" / "n01440764_1.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="Unreadable image.*n01440764_1.JPEG"):
        load_split("imagenette", False, tmp_path)
