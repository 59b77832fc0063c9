"""Explanation metrics of the study's Table 1, batched in torch: Gini sparsity, RIS, ROS, ROAD AOPC, SSIM.

The study computed them with Quantus; these follow quantus 0.6.0's definitions and defaults (tests compare
them with quantus on the same inputs and noise) and run on the device of the model and the images. Maps are
(B, H, W), images (B, C, H, W) in [0, 1]; a saliency.attribution.Method recomputes maps of changed inputs.
Noise comes from the `generator` passed in (one of the images' device; None: torch's global one).
Nothing here copies to the host inside a loop; only ROAD's solver waits for the device, to read its stop flag
every 8 steps.
"""

import torch
import torch.nn.functional as F

from saliency.devices import seeded_generator
from saliency.names import METRIC_NAMES

EPS_MIN = 1e-6  # quantus's guard against division by zero in RIS/ROS
GINI_OFFSET = 1e-7  # quantus Sparseness adds this to every attribution
STABILITY_SAMPLES = 200  # quantus's nr_samples
STABILITY_NOISE = (0.02, 0.2)  # uniform noise added to every pixel (quantus batch_uniform_noise, upper_bound=0.2)
ROAD_PERCENTAGES = tuple(range(1, 100, 2))  # quantus ROAD: remove 1 %, 3 %, ..., 99 % of the pixels
ROAD_NOISE = 0.01  # standard deviation of the noise added to imputed pixels
SSIM_NOISE = 0.1  # standard deviation of the Gaussian noise of the noisy copy
SSIM_TRIES = 10  # noisy copies drawn per image; the first one with the same prediction is used
SSIM_WINDOW = 7  # skimage's default window


def gini(maps):
    """Gini index of |map| / max|map| (quantus Sparseness: abs, normalise_by_max, + 1e-7), per map, in float64.

    quantus normalises by the maximum over its whole batch; per map, a stimulus's value does not depend on
    which other maps were evaluated with it (the two differ only through the 1e-7).
    """
    a = maps.flatten(1).double().abs()
    peak = a.amax(dim=1, keepdim=True)
    a = torch.where(peak > 0, a / torch.where(peak > 0, peak, 1.0), a) + GINI_OFFSET
    a = a.sort(dim=1).values
    n = a.shape[1]
    weights = 2 * torch.arange(1, n + 1, device=a.device, dtype=a.dtype) - n - 1
    return (a * weights).sum(dim=1) / (n * a.sum(dim=1))


def _relative_change(before, after):
    """|| (before - after) / (before + (before == 0) * eps) ||_2 over all but the (sample, image) axes."""
    ratio = (before - after) / (before + (before == 0) * EPS_MIN)
    return ratio.flatten(2).norm(dim=2)


def _guard(denominator):
    return denominator + (denominator == 0) * EPS_MIN


def stability_noise(shape, samples, device, generator=None):
    """(samples, *shape) uniform noise in [0.02, 0.2): the perturbations of RIS and ROS."""
    low, high = STABILITY_NOISE
    return torch.rand((samples, *shape), device=device, generator=generator) * (high - low) + low


def relative_stability(model, method, images, target, maps, noise, batch_size=500):
    """(RIS, ROS) per image: the maximum over the perturbations in `noise` (samples, B, C, H, W).

    As quantus: RIS = ||(e - e') / e|| / ||(x - x') / x||, ROS = ||(e - e') / e|| / ||logits - logits'||,
    element-wise divisions guarded by eps 1e-6, no clipping of x' = x + noise, no normalisation of the maps;
    a perturbation that changes the predicted class counts as NaN, so the image's value is NaN.
    RIS and ROS share the perturbations (quantus draws separate ones for each metric).
    """
    samples, count = noise.shape[:2]
    with torch.no_grad():
        logits = model(images)
    predicted = logits.argmax(dim=1)
    perturbed_all = (images.unsqueeze(0) + noise).flatten(0, 1)  # sample-major, like the noise
    targets = target.repeat(samples)
    explained, outputs = [], []
    for start in range(0, len(perturbed_all), batch_size):
        perturbed_maps, perturbed_logits = method.explain_with_logits(
            model, perturbed_all[start : start + batch_size], targets[start : start + batch_size])
        explained.append(perturbed_maps)
        outputs.append(perturbed_logits)
    maps_perturbed = torch.cat(explained).view(samples, count, *maps.shape[1:]).double()
    logits_perturbed = torch.cat(outputs).view(samples, count, -1)
    explanation_change = _relative_change(maps.double().unsqueeze(0), maps_perturbed)
    input_change = _guard(_relative_change(images.double().unsqueeze(0), perturbed_all.view_as(noise).double()))
    output_change = _guard((logits.double().unsqueeze(0) - logits_perturbed.double()).norm(dim=2))
    changed = logits_perturbed.argmax(dim=2) != predicted.unsqueeze(0)
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=images.device)
    ris = torch.where(changed, nan, explanation_change / input_change)
    ros = torch.where(changed, nan, explanation_change / output_change)
    return ris.amax(dim=0), ros.amax(dim=0)  # amax propagates NaN, as np.max does


def _neighbour_sum(values):
    """Sum of the 8 neighbours inside the image, weighted 1/6 (direct) and 1/12 (diagonal)."""
    p = F.pad(values, (1, 1, 1, 1))
    direct = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]
    diagonal = p[..., :-2, :-2] + p[..., :-2, 2:] + p[..., 2:, :-2] + p[..., 2:, 2:]
    return direct / 6 + diagonal / 12


def linear_imputation(images, missing, tolerance=1e-6, check_every=8):
    """ROAD's imputation without its noise: each missing pixel becomes the weighted mean of its 8 neighbours
    (1/6 direct, 1/12 diagonal, over the neighbours inside the image), solved jointly for all missing pixels.

    images (N, C, H, W); missing (N, 1, H, W) bool. quantus builds the same sparse system and calls scipy's
    spsolve one image at a time (and returns float32 images); here a batch is solved at once by
    Jacobi-preconditioned conjugate gradients in the images' dtype (the system is symmetric positive definite
    whenever a pixel is kept), until every residual is below `tolerance` times its start; the check reads
    one flag from the device every `check_every` steps.
    """
    m = missing.to(images.dtype).expand_as(images)
    degree = _neighbour_sum(torch.ones_like(images[:1, :1]))  # sum of the weights of the in-image neighbours
    residual = m * _neighbour_sum((1 - m) * images)
    solution = torch.zeros_like(images)
    z = residual / degree
    direction = z.clone()
    rz = (residual * z).sum(dim=(2, 3), keepdim=True)
    stop = rz * tolerance ** 2
    for step_number in range(images.shape[2] * images.shape[3]):  # CG ends in at most H*W steps
        if step_number % check_every == 0 and bool((rz <= stop).all()):
            break
        a_direction = m * (degree * direction - _neighbour_sum(direction))
        curvature = (direction * a_direction).sum(dim=(2, 3), keepdim=True)
        step = torch.where(curvature > 0, rz / torch.where(curvature > 0, curvature, 1.0), 0.0)
        solution = solution + step * direction
        residual = residual - step * a_direction
        z = residual / degree
        rz_next = (residual * z).sum(dim=(2, 3), keepdim=True)
        direction = z + torch.where(rz > 0, rz_next / torch.where(rz > 0, rz, 1.0), 0.0) * direction
        rz = rz_next
    return (1 - m) * images + solution


def removal_masks(maps, percentages=ROAD_PERCENTAGES):
    """(B, P, H, W) bool: the int(H W p / 100) highest-ranked pixels of each map, for each percentage p.

    Most relevant first, ties broken by pixel position (a stable sort; quantus's np.argsort is not stable).
    """
    flat = maps.flatten(1)
    n = flat.shape[1]
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=flat.device).expand_as(order))
    counts = torch.tensor([int(n * p / 100) for p in percentages], device=flat.device)
    return (rank.unsqueeze(1) < counts.view(1, -1, 1)).view(*maps.shape[:1], len(percentages), *maps.shape[1:])


def road_probabilities(model, images, maps, percentages=ROAD_PERCENTAGES, noise=None, generator=None):
    """(B, 1 + P, classes) softmax probabilities: of the image, then with each percentage of its pixels replaced
    by noisy linear imputation (ROAD: the imputation plus 0.01 * N(0, 1) noise on the replaced pixels).

    `noise` (P, B, C, H, W) is the standard-normal noise; drawn here if None.
    """
    masks = removal_masks(maps, percentages)
    with torch.no_grad():
        outputs = [torch.softmax(model(images), dim=1)]
        for step in range(len(percentages)):
            missing = masks[:, step].unsqueeze(1)
            drawn = noise[step] if noise is not None else torch.randn(
                images.shape, device=images.device, generator=generator)
            inputs = linear_imputation(images, missing) + missing * (ROAD_NOISE * drawn)
            outputs.append(torch.softmax(model(inputs), dim=1))
    return torch.stack(outputs, dim=1)


def road_aopc(probabilities, target):
    """The study's AOPC, most relevant first, of the target's probability f:
    1/(L+1) sum_k (f(x_0) - f(x_k)) over k = 0..L (k = 0 adds 0)."""
    chosen = probabilities.gather(2, target.view(-1, 1, 1).expand(-1, probabilities.shape[1], 1)).squeeze(2)
    return (chosen[:, :1] - chosen).double().sum(dim=1) / chosen.shape[1]


def ssim(first, second, window=SSIM_WINDOW):
    """Mean SSIM of two (B, H, W) maps as quantus computes it: skimage's structural_similarity with its
    defaults (uniform window of 7, K1 0.01, K2 0.03, sample covariance, valid windows only) and
    data_range = max - min over both maps. float64.
    """
    a, b = first.double().unsqueeze(1), second.double().unsqueeze(1)
    both = torch.cat([a, b], dim=1).flatten(1)
    data_range = (both.amax(dim=1) - both.amin(dim=1)).view(-1, 1, 1, 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def mean(v):
        return F.avg_pool2d(v, window, stride=1)

    mu_a, mu_b = mean(a), mean(b)
    unbiased = window * window / (window * window - 1)
    var_a = unbiased * (mean(a * a) - mu_a * mu_a)
    var_b = unbiased * (mean(b * b) - mu_b * mu_b)
    cov = unbiased * (mean(a * b) - mu_a * mu_b)
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(dim=1)


def noisy_copies(model, images, generator=None, tries=SSIM_TRIES, stdev=SSIM_NOISE):
    """(copies, kept): per image the first of `tries` Gaussian-noise copies (not clipped) with the image's
    predicted class; `kept` is False where none kept it (the copy is then the first one drawn)."""
    noise = torch.randn((tries, *images.shape), device=images.device, generator=generator) * stdev
    candidates = images.unsqueeze(0) + noise
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
        same = model(candidates.flatten(0, 1)).argmax(dim=1).view(tries, -1) == predicted.unsqueeze(0)
    position = torch.arange(tries, 0, -1, device=images.device).unsqueeze(1)
    first = torch.where(same, position, 0).argmax(dim=0)  # the earliest try that kept the class
    copies = candidates.gather(0, first.view(1, -1, 1, 1, 1).expand(1, *images.shape)).squeeze(0)
    return copies, same.any(dim=0)


def noisy_copy_ssim(model, explain, images, target, maps, generator=None):
    """SSIM between each map and the map of a noisy copy with the same prediction (NaN where none was found)."""
    copies, kept = noisy_copies(model, images, generator)
    values = ssim(maps, explain(model, copies, target))
    return torch.where(kept, values, torch.tensor(float("nan"), dtype=values.dtype, device=values.device))


CHUNK_VALUES = 100 * 28 * 28  # image values evaluated together: 100 FMNIST images, 25 CIFAR-10 images, 1 ImageNette


def image_chunks(images):
    """Slices of at most CHUNK_VALUES image values, so 200 perturbed copies of a chunk fit in memory.

    The slicing depends on the image size only, so an image gets the same noise whatever the number of images.
    """
    size = max(1, CHUNK_VALUES // images[0].numel())
    return [slice(start, start + size) for start in range(0, len(images), size)]


def evaluate_maps(model, method, images, target, maps, generator=None, samples=STABILITY_SAMPLES,
                  percentages=ROAD_PERCENTAGES, batch_images=1000):
    """The five metrics of each map, as float64 tensors on the images' device: gini, ris, ros, road_aopc, ssim.

    `method` is a saliency.attribution.Method; `batch_images` bounds the images per gradient pass.
    """
    noise = stability_noise(images.shape, samples, images.device, generator)
    ris, ros = relative_stability(model, method, images, target, maps, noise,
                                  max(1, batch_images // method.passes))
    return {
        "gini": gini(maps),
        "ris": ris,
        "ros": ros,
        "road_aopc": road_aopc(road_probabilities(model, images, maps, percentages, generator=generator), target),
        "ssim": noisy_copy_ssim(model, method.explain, images, target, maps, generator),
    }


def explain_and_evaluate(model, method, images, target, seed, samples=STABILITY_SAMPLES):
    """(maps, {metric: values}) of `method` for every image, chunk by chunk (image_chunks), as float64 metrics.

    The noise, SmoothGrad's (torch's global generator, restored afterwards) and the metrics' (a generator on the
    images' device), comes from `seed` alone, so every model and method gets the same noise and their
    differences are paired.
    """
    device = images.device
    maps, values = [], {name: [] for name in METRIC_NAMES}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        generator = seeded_generator(device, seed)
        for chunk in image_chunks(images):
            chunk_maps = method.explain(model, images[chunk], target[chunk])
            scores = evaluate_maps(model, method, images[chunk], target[chunk], chunk_maps, generator, samples)
            maps.append(chunk_maps)
            for name in METRIC_NAMES:
                values[name].append(scores[name])
    return torch.cat(maps), {name: torch.cat(parts) for name, parts in values.items()}
