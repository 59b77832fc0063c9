"""Which device the saliency code runs on, and seeded random draws on it.

Everything else follows its inputs: models are built on the CPU and moved, and every
tensor is created on the device of the model or batch it works with. torch is imported
where it is used, so that management commands can offer DEVICE_CHOICES without loading it.
"""

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceError(Exception):
    pass


def resolve_device(choice: str):
    """`auto` is CUDA when torch sees a CUDA device, else the CPU; `cuda` without one is an error, not a fallback."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    elif choice == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda asked for, but torch sees no CUDA device; use --device cpu or auto.")
    return torch.device(choice)


def seeded_generator(device, seed):
    """A generator for random draws on `device` (a CPU generator cannot fill a CUDA tensor). The meta device
    draws nothing and has no generator: None."""
    import torch

    device = torch.device(device)
    return None if device.type == "meta" else torch.Generator(device=device).manual_seed(seed)
