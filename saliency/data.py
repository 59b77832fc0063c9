"""Datasets as tensors in [0, 1], read from local files only (nothing downloads at run time).

Every problem with the data (missing, truncated, wrong format) raises DataError
naming the path and how to obtain the data, before anything is written.

XDG_CACHE_HOME  the cache folder: Fashion-MNIST's files are unpacked once into $XDG_CACHE_HOME/saliency-study/
               (default ~/.cache)
"""

import gzip
import os
import pickle
import shutil
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from saliency.vision import datasets, transforms

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = [f"{split}-{kind}-ubyte" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IMAGENETTE_FOLDERS = ("imagenette2-320", "imagenette2-160", "imagenette2", "imagenette")

HOW_TO_GET = {
    "fmnist": (
        "Install Debian's package (`make system-packages`, i.e. apt-get install dataset-fashion-mnist), "
        "or put the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist in "
        "DATA_ROOT/fashion-mnist/ and pass --data-root DATA_ROOT."
    ),
    "cifar10": (
        "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it into "
        "DATA_ROOT (giving DATA_ROOT/cifar-10-batches-py/) and pass --data-root DATA_ROOT."
    ),
    "imagenette": (
        "Download imagenette2-320.tgz from https://github.com/fastai/imagenette, unpack it into DATA_ROOT "
        "(giving DATA_ROOT/imagenette2-320/{train,val}/<wnid>/*.JPEG) and pass --data-root DATA_ROOT."
    ),
}


class DataError(Exception):
    """Missing or malformed data; the message names the path and how to obtain the data."""

    def __init__(self, dataset, path, problem):
        super().__init__(f"{problem}: {path}. {HOW_TO_GET[dataset]}")


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) kept in memory; indexing with a tensor of indices returns a whole batch."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes):
        self.images, self.targets, self.classes = images, targets, list(classes)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.images[index].float().div(255), self.targets[index]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "saliency-study"


def _fmnist_source(data_root):
    candidates = ([Path(data_root) / "fashion-mnist", Path(data_root)] if data_root else []) + [DEBIAN_FMNIST]
    for folder in candidates:
        if any((folder / f"{name}.gz").exists() for name in FMNIST_FILES):
            return folder
    raise DataError("fmnist", " or ".join(str(c) for c in candidates), "Fashion-MNIST's *-ubyte.gz files not found in")


def _gunzip_cached(source: Path, target: Path):
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return
    partial = target.with_suffix(".partial")
    try:
        with gzip.open(source, "rb") as zipped, open(partial, "wb") as out:
            shutil.copyfileobj(zipped, out)
    except (OSError, EOFError) as error:
        partial.unlink(missing_ok=True)
        raise DataError("fmnist", source, f"Cannot decompress ({error})") from error
    partial.replace(target)


def load_fmnist(train: bool, data_root=None, cache_dir=None) -> TensorImages:
    """Gunzip the four files into <cache>/FashionMNIST/raw/ and read them with torchvision's FashionMNIST."""
    source = _fmnist_source(data_root)
    cache = Path(cache_dir or default_cache_dir())
    raw = cache / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FMNIST_FILES:
        gz = source / f"{name}.gz"
        if not gz.exists():
            raise DataError("fmnist", gz, "Fashion-MNIST file missing")
        _gunzip_cached(gz, raw / name)
    try:
        data = datasets.FashionMNIST(cache, train=train, download=False)
        images, targets = data.data, data.targets
    except Exception as error:  # torchvision raises bare assertions/ValueErrors on malformed idx files
        raise DataError("fmnist", source, f"Malformed Fashion-MNIST files ({error or type(error).__name__})") from error
    expected = 60000 if train else 10000
    if images.shape != (expected, 28, 28) or targets.shape != (expected,) or int(targets.max()) > 9:
        raise DataError(
            "fmnist", source, f"Fashion-MNIST {'train' if train else 't10k'} files hold {tuple(images.shape)} images "
            f"and {tuple(targets.shape)} labels instead of {expected} 28x28 images with labels 0-9, in"
        )
    return TensorImages(images.unsqueeze(1), targets, FMNIST_CLASSES)


class LocalCIFAR10(datasets.CIFAR10):
    """torchvision's CIFAR10 reader without its md5 checks, so any file in the same pickle format loads."""

    def _check_integrity(self) -> bool:
        files = [name for name, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        return all(os.path.isfile(os.path.join(self.root, self.base_folder, name)) for name in files)

    def _load_meta(self) -> None:
        with open(os.path.join(self.root, self.base_folder, self.meta["filename"]), "rb") as infile:
            self.classes = pickle.load(infile, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def load_cifar10(train: bool, data_root=None) -> TensorImages:
    if not data_root:
        raise DataError("cifar10", "--data-root", "CIFAR-10 needs a data folder; none given with")
    folder = Path(data_root) / LocalCIFAR10.base_folder
    names = [name for name, _ in LocalCIFAR10.train_list + LocalCIFAR10.test_list] + [LocalCIFAR10.meta["filename"]]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError("cifar10", folder, f"CIFAR-10 batch files missing ({', '.join(missing)}) in")
    try:
        data = LocalCIFAR10(data_root, train=train, download=False)
        images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
        targets = torch.tensor(data.targets, dtype=torch.long)
    except Exception as error:  # unpickling errors, missing keys, wrong sizes
        raise DataError("cifar10", folder, f"Malformed CIFAR-10 batch files ({error or type(error).__name__}) in") from error
    if len(data.classes) != 10 or len(targets) != len(images) or (len(targets) and int(targets.max()) > 9):
        raise DataError("cifar10", folder, "CIFAR-10 batches do not hold 10 classes with one label per image in")
    return TensorImages(images, targets, data.classes)


def _imagenette_root(data_root):
    if not data_root:
        raise DataError("imagenette", "--data-root", "ImageNette needs a data folder; none given with")
    for name in IMAGENETTE_FOLDERS:
        if (Path(data_root) / name).is_dir():
            return Path(data_root) / name
    raise DataError("imagenette", Path(data_root) / IMAGENETTE_FOLDERS[0], "ImageNette folder not found")


class ImagenetteFolder(datasets.ImageFolder):
    """An ImageNette split (<wnid>/<image> folders); classes are readable names, e.g. n01440764 -> tench."""

    def __init__(self, root, transform):
        super().__init__(root, transform=transform)
        self.wnids = self.classes
        self.classes = [datasets.Imagenette._WNID_TO_CLASS.get(w, (w,))[0] for w in self.wnids]


def load_imagenette(train: bool, data_root=None) -> ImagenetteFolder:
    split = _imagenette_root(data_root) / ("train" if train else "val")
    if not split.is_dir():
        raise DataError("imagenette", split, "ImageNette split folder missing")
    transform = transforms.Compose(
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor()]
        if train
        else [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
    )
    try:
        data = ImagenetteFolder(split, transform)
    except (FileNotFoundError, OSError) as error:
        raise DataError("imagenette", split, f"No class folders with images ({error})") from error
    for path, _ in data.samples:
        try:
            with Image.open(path) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise DataError("imagenette", path, f"Unreadable image ({error})") from error
    return data


def load_split(dataset: str, train: bool, data_root=None, cache_dir=None):
    """The train or test split of a dataset, as a Dataset of (image in [0, 1], label) with `.classes`."""
    if dataset == "fmnist":
        return load_fmnist(train, data_root, cache_dir)
    if dataset == "cifar10":
        return load_cifar10(train, data_root)
    if dataset == "imagenette":
        return load_imagenette(train, data_root)
    raise ValueError(f"Unknown dataset {dataset!r}; choose one of fmnist, cifar10, imagenette.")


def batches(data, batch_size, shuffle=False, generator=None, indices=None):
    """Yield (images, labels) batches; in-memory datasets are sliced a batch at a time, folders go through a DataLoader."""
    if indices is None:
        indices = torch.randperm(len(data), generator=generator) if shuffle else torch.arange(len(data))
    if isinstance(data, TensorImages):
        for start in range(0, len(indices), batch_size):
            yield data[indices[start : start + batch_size]]
    else:
        subset = torch.utils.data.Subset(data, indices.tolist())
        yield from DataLoader(subset, batch_size=batch_size, shuffle=False)
