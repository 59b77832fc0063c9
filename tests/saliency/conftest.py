import pytest
import torch

from saliency.data import load_split


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    # The machine is shared; one thread is faster than two under contention and keeps results reproducible.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fmnist_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fmnist-cache")


@pytest.fixture(scope="session")
def fmnist_test(fmnist_cache):
    return load_split("fmnist", train=False, cache_dir=fmnist_cache)
