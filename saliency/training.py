"""Natural and adversarial training, benign/robust evaluation, checkpoints with their metadata."""

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from saliency.attacks import fgsm_random_start, pgd
from saliency.data import batches
from saliency.devices import seeded_generator
from saliency.nets import ADVERSARIAL_VARIANTS, VARIANT_FILTERS, build_model


@dataclass(frozen=True)
class Preset:
    name: str
    optimizer: str  # "adam" or "sgd"
    lr: float
    batch_size: int
    epochs: int = 0  # used when steps == 0
    steps: int = 0  # total optimizer steps (CIFAR-10 paper schedule)
    lr_milestones: tuple = ()  # steps after which lr drops 10x
    momentum: float = 0.0
    weight_decay: float = 0.0
    attack: str = "pgd"  # training attack: "pgd" or "fgsm_rs"
    eps: float = 0.1
    attack_step: float = 0.01
    attack_steps: int = 40
    eval_step: float = 0.01
    eval_steps: int = 100
    eval_subset: int = 0  # robust accuracy on this many seeded test images; 0 = whole test set
    arch: tuple = ()  # architecture options, e.g. (("depth", 28), ("widen_factor", 10))


_FMNIST_PAPER = Preset("paper", "adam", 1e-3, batch_size=32, epochs=50)
PRESETS = {
    ("paper", "fmnist"): _FMNIST_PAPER,
    ("paper", "cifar10"): Preset(
        "paper", "sgd", 0.1, batch_size=128, steps=70_000, lr_milestones=(40_000, 50_000), momentum=0.9,
        weight_decay=5e-4, arch=(("depth", 28), ("widen_factor", 10)),
    ),
    ("paper", "imagenette"): Preset(
        "paper", "sgd", 0.1, batch_size=64, epochs=30, momentum=0.9, weight_decay=5e-4,
        eps=1 / 255, attack_step=0.00784, attack_steps=20, eval_step=0.00784 / 4, eval_steps=100,
    ),
    # CPU: FGSM with random start (step 1.25 eps, Wong et al. 2020), larger batches, few epochs,
    # robust accuracy with PGD-20 on 1,000 seeded test images. Sized in docs/explanation/performance.md.
    ("cpu", "fmnist"): replace(
        _FMNIST_PAPER, name="cpu", batch_size=64, epochs=3, attack="fgsm_rs", attack_step=0.125, attack_steps=1,
        eval_steps=20, eval_subset=1000,
    ),
    ("cpu", "cifar10"): Preset(
        "cpu", "sgd", 0.05, batch_size=128, epochs=2, momentum=0.9, weight_decay=5e-4, attack="fgsm_rs",
        attack_step=0.125, attack_steps=1, eval_steps=20, eval_subset=1000, arch=(("depth", 16), ("widen_factor", 2)),
    ),
    ("cpu", "imagenette"): Preset(
        "cpu", "sgd", 0.05, batch_size=32, epochs=1, momentum=0.9, weight_decay=5e-4, eps=1 / 255, attack="fgsm_rs",
        attack_step=1.25 / 255, attack_steps=1, eval_step=0.00784 / 4, eval_steps=10, eval_subset=200,
    ),
}
PRESET_NAMES = ("paper", "cpu")


def get_preset(name: str, dataset: str) -> Preset:
    if (name, dataset) not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
    return PRESETS[name, dataset]


def make_model(dataset, variant, preset: Preset, smoothing_position=1):
    return build_model(dataset, variant, smoothing_position, **dict(preset.arch))


def make_optimizer(model, preset):
    """The preset's optimizer over the model's parameters (Adam or SGD with momentum)."""
    if preset.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay)


def adversarial_batch(model, x, y, preset: Preset, generator=None):
    if preset.attack == "fgsm_rs":
        return fgsm_random_start(model, x, y, preset.eps, preset.attack_step, generator=generator)
    return pgd(model, x, y, preset.eps, preset.attack_step, preset.attack_steps, generator=generator)


def training_step(model, optimizer, x, y, variant, preset, generator=None):
    """One optimizer step on a (natural or adversarial) batch; the loss stays on the device, as reading it
    would make the host wait for the device at every step."""
    if variant in ADVERSARIAL_VARIANTS:
        x = adversarial_batch(model, x, y, preset, generator)
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


LOSS_SHOWN_EVERY = 50  # steps between progress-bar loss updates (each one waits for the device)


def train(model, train_data, variant, preset: Preset, seed=0, max_batches=None, device="cpu"):
    """Train in place; returns the number of images seen and the seconds it took."""
    generator = torch.Generator().manual_seed(seed)  # shuffles indices on the CPU, where the data is
    attack_generator = seeded_generator(device, seed + 1)
    optimizer = make_optimizer(model, preset)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(preset.lr_milestones), 0.1)
    batches_per_epoch = -(-len(train_data) // preset.batch_size)
    if max_batches:
        batches_per_epoch = min(batches_per_epoch, max_batches)
    epochs = preset.epochs or -(-preset.steps // batches_per_epoch)
    total_steps = preset.steps or epochs * batches_per_epoch
    model.to(device).train()
    seen, step, started = 0, 0, time.perf_counter()
    for epoch in range(epochs):
        bar = tqdm(total=min(batches_per_epoch, total_steps - step), desc=f"{variant} epoch {epoch + 1}/{epochs}")
        for i, (x, y) in enumerate(batches(train_data, preset.batch_size, shuffle=True, generator=generator)):
            if i >= batches_per_epoch or step >= total_steps:
                break
            loss = training_step(model, optimizer, x.to(device), y.to(device), variant, preset, attack_generator)
            scheduler.step()
            seen, step = seen + len(y), step + 1
            bar.update()
            if step % LOSS_SHOWN_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        bar.close()
    model.eval()
    return seen, time.perf_counter() - started


def robust_subset(test_size, preset: Preset, seed=0):
    """The fixed, seeded test indices for robust accuracy (all of them when eval_subset is 0)."""
    if not preset.eval_subset or preset.eval_subset >= test_size:
        return torch.arange(test_size)
    return torch.randperm(test_size, generator=torch.Generator().manual_seed(seed))[: preset.eval_subset].sort().values


def correct_predictions(model, x, y, attack: Preset | None = None, generator=None):
    """How many of the batch the model classifies correctly, benign or under the preset's evaluation PGD;
    a tensor on the batch's device, so batches add up there without waiting for each other."""
    if attack is not None:
        x = pgd(model, x, y, attack.eps, attack.eval_step, attack.eval_steps, generator=generator)
    with torch.no_grad():
        return (model(x).argmax(1) == y).sum()


def evaluate(model, test_data, preset: Preset, seed=0, max_batches=None, device="cpu", batch_size=250):
    """Benign accuracy on the whole test set, robust accuracy under PGD on the seeded subset.

    max_batches (smoke tests) keeps only the first max_batches * preset.batch_size images of each.
    """
    model.to(device).eval()
    keep = max_batches * preset.batch_size if max_batches else None

    def accuracy(indices, attack):
        indices = indices[:keep]
        correct = torch.zeros((), dtype=torch.int64, device=device)
        generator = seeded_generator(device, seed)
        progress = tqdm(batches(test_data, batch_size, indices=indices), total=-(-len(indices) // batch_size),
                        desc="robust accuracy" if attack else "benign accuracy")
        for x, y in progress:
            correct += correct_predictions(model, x.to(device), y.to(device), preset if attack else None, generator)
        return 100.0 * correct.item() / len(indices), len(indices)

    benign, benign_n = accuracy(torch.arange(len(test_data)), attack=False)
    robust, robust_n = accuracy(robust_subset(len(test_data), preset, seed), attack=True)
    return {
        "benign": round(benign, 2), "benign_images": benign_n, "robust": round(robust, 2), "robust_images": robust_n,
        "robust_attack": f"PGD L-inf eps {preset.eps:g}, {preset.eval_steps} steps of {preset.eval_step:g}",
    }


def checkpoint_paths(checkpoints_dir, dataset, variant, preset_name):
    stem = Path(checkpoints_dir) / f"{dataset}-{variant}-{preset_name}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save_checkpoint(model, metadata, checkpoints_dir):
    """State dict plus a JSON of how it was made and how well it does, written atomically side by side."""
    weights, info = checkpoint_paths(checkpoints_dir, metadata["dataset"], metadata["variant"], metadata["preset"])
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights.with_suffix(".pt.partial"))
    info.with_suffix(".json.partial").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    weights.with_suffix(".pt.partial").replace(weights)
    info.with_suffix(".json.partial").replace(info)
    return weights, info


class CheckpointError(Exception):
    pass


def load_checkpoint(checkpoints_dir, dataset, variant, preset_name, device="cpu"):
    """(model, metadata) from a checkpoint, or None when it is not there."""
    weights, info = checkpoint_paths(checkpoints_dir, dataset, variant, preset_name)
    if not (weights.exists() and info.exists()):
        return None
    try:
        metadata = json.loads(info.read_text())
        settings = metadata["preset_settings"]
        preset = Preset(**{**settings, "lr_milestones": tuple(settings["lr_milestones"]),
                           "arch": tuple(map(tuple, settings["arch"]))})
        model = make_model(dataset, variant, preset, metadata["smoothing_position"])
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))  # built on the CPU
    except Exception as error:  # bad JSON, missing keys, a truncated or mismatched state dict
        raise CheckpointError(
            f"Checkpoint {weights} / {info.name} is unreadable ({error or type(error).__name__}); "
            "restore it, or delete both files to retrain the model."
        ) from error
    return model.to(device).eval(), metadata


def train_and_save(dataset, variant, preset: Preset, train_data, test_data, checkpoints_dir, seed=0,
                   smoothing_position=1, max_batches=None, device="cpu"):
    torch.manual_seed(seed)
    model = make_model(dataset, variant, preset, smoothing_position)
    seen, seconds = train(model, train_data, variant, preset, seed, max_batches, device)
    metadata = {
        "dataset": dataset, "variant": variant, "preset": preset.name, "preset_settings": asdict(preset),
        "smoothing_position": smoothing_position, "seed": seed, "max_batches": max_batches,
        "train_images": seen, "train_seconds": round(seconds, 1), "train_images_per_second": round(seen / seconds, 1),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
        "accuracy": evaluate(model, test_data, preset, seed, max_batches, device),
    }
    save_checkpoint(model, metadata, checkpoints_dir)
    return model, metadata


# The study's Table 4 (Fashion-MNIST): benign and robust (PGD, eps 0.1) accuracy in %.
STUDY_TABLE4 = {("fmnist", "N"): (89.9, 9.5), ("fmnist", "A"): (79.9, 67.7), ("fmnist", "M2"): (80.5, 68.6)}
BENIGN_TOLERANCE, ROBUST_TOLERANCE = 5.0, 10.0


def accuracy_table(checkpoints_dir):
    """Rows for every checkpoint's metadata in the folder, beside the study's figures, plus a printable table."""
    rows = []
    for info in sorted(Path(checkpoints_dir).glob("*-*-*.json")):
        metadata = json.loads(info.read_text())
        if "accuracy" not in metadata:
            continue
        study = STUDY_TABLE4.get((metadata["dataset"], metadata["variant"]))
        accuracy = metadata["accuracy"]
        row = {
            "dataset": metadata["dataset"], "variant": metadata["variant"], "preset": metadata["preset"],
            "checkpoint": info.with_suffix(".pt").name, "benign": accuracy["benign"], "robust": accuracy["robust"],
            "robust_attack": accuracy["robust_attack"], "robust_images": accuracy["robust_images"],
            "study_benign": study[0] if study else None, "study_robust": study[1] if study else None,
        }
        if study:
            row["within_target"] = (abs(row["benign"] - study[0]) <= BENIGN_TOLERANCE
                                    and abs(row["robust"] - study[1]) <= ROBUST_TOLERANCE)
        rows.append(row)
    rows.sort(key=lambda r: (r["dataset"], list(VARIANT_FILTERS).index(r["variant"]), r["preset"]))
    lines = [
        f"{'dataset':<10} {'model':<5} {'preset':<6} {'benign':>7} {'study':>6} {'robust':>7} {'study':>6}  target "
        f"(benign +-{BENIGN_TOLERANCE:g}, robust +-{ROBUST_TOLERANCE:g})",
    ]
    for row in rows:
        study_b = f"{row['study_benign']:.1f}" if row["study_benign"] is not None else "-"
        study_r = f"{row['study_robust']:.1f}" if row["study_robust"] is not None else "-"
        verdict = {True: "met", False: "MISSED", None: "-"}[row.get("within_target")]
        lines.append(f"{row['dataset']:<10} {row['variant']:<5} {row['preset']:<6} {row['benign']:>7.2f} {study_b:>6} "
                     f"{row['robust']:>7.2f} {study_r:>6}  {verdict}")
    if rows:
        lines.append(f"robust: {rows[0]['robust_attack']} on {rows[0]['robust_images']} seeded test images; "
                     "study: Table 4 (PGD eps 0.1, 100 steps, whole test set)")
    return rows, "\n".join(lines) + "\n"


def write_accuracy_table(checkpoints_dir):
    rows, text = accuracy_table(checkpoints_dir)
    folder = Path(checkpoints_dir)
    (folder / "accuracy.json").write_text(json.dumps(rows, indent=2) + "\n")
    (folder / "accuracy.txt").write_text(text)
    return text
