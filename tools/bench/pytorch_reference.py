#!/usr/bin/env python3
"""The same analysis in plain PyTorch, for comparison with `npm run bench` (not part of the product or its tests).

For VGG-16 at 128x128 with 2 classes and SqueezeNet 1.1 at 224 (the architectures of the benchmark, built here
with seeded random weights: torchvision is not installed and speed does not depend on the weights), batch 8,
torch.set_num_threads(cores):

- bare: inference on one pre-rendered batch of copies, reused for all N copies;
- full: the paper's copies x * (1 + i * eps) rendered with torch.randn, the forward pass with a hook on every
  recorded ReLU, y = softmax(logits)[target] in float64, and per layer and batch the shifted per-unit sums
  sum d, sum d*e, sum d^2 (float32 over the batch) merged into float64, the per-copy channel means, then the
  per-unit |Pearson r| averaged per channel, the precision per channel, and the top-5 sets per layer;

and prints img/s for N = 50 and 500, end to end and per copy (slope), and the ratios. Usage:

    python3 tools/bench/pytorch_reference.py [--repeats 3] [--models vgg16,squeezenet]
"""

import argparse
import os
import statistics
import time

import torch
from torch import nn

BATCH = 8
TOP_K = 5
ELIGIBILITY = 0.1


def vgg16(classes: int = 2, size: int = 128) -> nn.Module:
    layers: list[nn.Module] = []
    channels = 3
    for width in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
    side = size // 32
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(512 * side * side, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, classes),
    )


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.squeeze_relu = nn.ReLU()
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand1_relu = nn.ReLU()
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)
        self.expand3_relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_relu(self.squeeze(x))
        return torch.cat([self.expand1_relu(self.expand1(x)), self.expand3_relu(self.expand3(x))], 1)


def squeezenet11(classes: int = 1000) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, stride=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(64, 16, 64),
        Fire(128, 16, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(128, 32, 128),
        Fire(256, 32, 128),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(256, 48, 192),
        Fire(384, 48, 192),
        Fire(384, 64, 256),
        Fire(512, 64, 256),
        nn.Conv2d(512, classes, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def conv_relus(model: nn.Module) -> list[nn.Module]:
    """The ReLUs that follow a convolution: the recorded layers (13 for VGG-16, 26 for SqueezeNet 1.1)."""
    relus = []
    modules = list(model.modules())
    for i, m in enumerate(modules):
        if isinstance(m, nn.ReLU) and i > 0 and isinstance(modules[i - 1], nn.Conv2d):
            relus.append(m)
    return relus


def render(x: torch.Tensor, first: int, count: int, gen: torch.Generator, sigma: float = 0.1) -> torch.Tensor:
    """Copies first..first+count-1 of the paper's perturbation: copy i = x * (1 + i * eps), eps ~ N(0, sigma^2)."""
    scale = torch.arange(first, first + count, dtype=torch.float32).view(-1, 1, 1, 1)
    eps = torch.randn((count, *x.shape[1:]), generator=gen) * sigma
    return x * (1 + scale * eps)


@torch.inference_mode()
def bare(model: nn.Module, x: torch.Tensor, n: int) -> float:
    batch = render(x, 0, BATCH, torch.Generator().manual_seed(1))
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        model(batch[: min(BATCH, n - first)])
    return time.perf_counter() - start


@torch.inference_mode()
def full(model: nn.Module, x: torch.Tensor, n: int) -> float:
    """The whole analysis for N = n copies; returns seconds."""
    start = time.perf_counter()
    relus = conv_relus(model)
    captured: list[torch.Tensor] = [torch.empty(0)] * len(relus)
    hooks = [r.register_forward_hook(lambda _m, _i, out, k=k: captured.__setitem__(k, out)) for k, r in enumerate(relus)]
    try:
        logits = model(x)
        target = int(logits.argmax())
        y0 = torch.softmax(logits.double(), 1)[0, target]
        shifts = [c[0].clone() for c in captured]
        sums = [torch.zeros((3, *s.shape), dtype=torch.float64) for s in shifts]
        sum_y = sum_yy = 0.0
        gen = torch.Generator().manual_seed(1)
        means = []
        for first in range(0, n, BATCH):
            count = min(BATCH, n - first)
            logits = model(render(x, first, count, gen))
            e = (torch.softmax(logits.double(), 1)[:, target] - y0)
            sum_y += float(e.sum())
            sum_yy += float((e * e).sum())
            e32 = e.float().view(-1, 1)
            for k, a in enumerate(captured):
                d = (a - shifts[k]).view(count, -1)
                part = torch.stack([d.sum(0), (e32 * d).sum(0), (d * d).sum(0)])
                sums[k] += part.view(sums[k].shape).double()
                means.append(a.mean((2, 3)))
        # Metrics: per-unit |r| averaged per channel (NaN ignored), precision 1 / mean unit variance, top-k.
        var_y = sum_yy / n - (sum_y / n) ** 2
        tops = []
        for k, s in enumerate(sums):
            mean_d = s[0] / n
            var = s[2] / n - mean_d * mean_d
            cov = s[1] / n - mean_d * (sum_y / n)
            r = (cov / torch.sqrt(var * var_y)).abs().flatten(1)
            corr = torch.nanmean(r, 1)
            precision = 1 / var.flatten(1).mean(1)
            eligible = (shifts[k].double() + mean_d).flatten(1).mean(1) >= ELIGIBILITY
            precision[~eligible] = float("nan")
            tops.append((torch.nan_to_num(corr, -1).topk(TOP_K).indices, torch.nan_to_num(precision, -1).topk(TOP_K).indices))
        return time.perf_counter() - start
    finally:
        for h in hooks:
            h.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="vgg16,squeezenet")
    parser.add_argument("--json", action="store_true", help="also print the medians as one JSON line at the end")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    torch.manual_seed(1)
    print(f"# plain PyTorch reference: torch {torch.__version__}, {cores} threads, batch {BATCH}, "
          f"{args.repeats} repeats, medians")
    results = {}
    specs = {"vgg16": ("VGG-16 128x128, 2 classes", vgg16, 128), "squeezenet": ("SqueezeNet 1.1 224x224", squeezenet11, 224)}
    for name in args.models.split(","):
        title, build, size = specs[name]
        model = build().eval()
        x = torch.rand(1, 3, size, size) * 2 - 1
        bare(model, x, 2 * BATCH)  # warm up
        full(model, x, 2 * BATCH)
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.repeats):
            for n in (50, 500):
                times.setdefault(("bare", n), []).append(bare(model, x, n))
                times.setdefault(("full", n), []).append(full(model, x, n))
        med = {key: statistics.median(v) for key, v in times.items()}
        print(f"\n## {title}\n")
        print("| N | bare img/s | full img/s | ratio |")
        print("|---|---|---|---|")
        for n in (50, 500):
            print(f"| {n} | {n / med[('bare', n)]:.1f} | {n / med[('full', n)]:.1f} | {med[('bare', n)] / med[('full', n)]:.3f} |")
        bare_slope = (med[("bare", 500)] - med[("bare", 50)]) / 450
        full_slope = (med[("full", 500)] - med[("full", 50)]) / 450
        print(f"\nper copy: bare {bare_slope * 1000:.2f} ms, full {full_slope * 1000:.2f} ms, ratio {bare_slope / full_slope:.3f}")
        results[name] = {
            "bare": {n: med[("bare", n)] for n in (50, 500)},
            "full": {n: med[("full", n)] for n in (50, 500)},
            "bareSlope": bare_slope,
            "fullSlope": full_slope,
        }
    if args.json:
        import json

        print(json.dumps(results))


if __name__ == "__main__":
    main()
