#!/usr/bin/env python3
"""The paper's training-time experiment, reproduced on Fashion-MNIST (issue #6, part 2).

Three steps, each a subcommand; `docs/reproduction.md` gives the exact commands and the numbers.

    train    train the default model's VGG-style CNN (tools/train-default-model/train.py: same data
             loading, same architecture) for E epochs, saving a checkpoint after every epoch (and the
             untrained network as epoch 0) as PyTorch state dict and ONNX; record the full network's
             test accuracy per epoch; write the fixed set of test images the selection runs on.
    (select) neuron selection with neuronscope on every checkpoint and image: done by the TypeScript
             tool `tools/reproduction/dist/fashion-select.js` (paper perturbation, N = 50, top-5 per layer).
    (deconv) the deconvnet boxes of every selected neuron (`tools/reproduction/dist/fashion-deconv.js`,
             neuronscope's own deconvnet): DIR/deconv-boxes.json.
    patches  the paper's 'generalization' test: for every selected neuron, keep only the part of the
             image inside the receptive-field box of the neuron's most active unit (or, with `--boxes
             deconv`, inside its deconvnet box, as the paper), train a small
             classifier on these patches (60/40 split by image) and report its test accuracy per epoch,
             for precision- and correlation-selected neurons; plus the overlap of the two sets per epoch.
             Writes results.json, results.md and two SVG plots.

Python only produces the experiment's artefacts; the product and its tests stay TypeScript.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_TOOL = REPO_ROOT / 'tools' / 'train-default-model' / 'train.py'


def _train_tool():
    """tools/train-default-model/train.py as a module (its folder name is not importable)."""
    spec = importlib.util.spec_from_file_location('train_default_model', TRAIN_TOOL)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot load {TRAIN_TOOL}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = _train_tool()

# The recorded conv layers of FashionVGG as neuronscope names them (the ReLU after each conv), in depth order.
CONV_LAYERS = ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1']


def onnx_layer_name(conv: str) -> str:
    return f'/relu{conv[4:]}/Relu_output_0'


# ------------------------------------------------------------------------------------ receptive fields


def receptive_fields(model: nn.Module) -> dict[str, dict[str, float]]:
    """Size, jump (stride in input pixels) and centre of unit 0 of every conv layer's output, for the plain
    conv/pool chain of FashionVGG (standard recurrences: r' = r + (k-1) j, j' = j s, c' = c + ((k-1)/2 - p) j)."""
    r, j, c = 1.0, 1.0, 0.0
    out: dict[str, dict[str, float]] = {}
    for name, layer in model.named_children():
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            p = layer.padding if isinstance(layer.padding, int) else layer.padding[0]
            c = c + ((k - 1) / 2 - p) * j
            r = r + (k - 1) * j
            j = j * s
            if isinstance(layer, nn.Conv2d):
                out[name] = {'size': r, 'jump': j, 'start': c}
    return out


def rf_box(rf: dict[str, float], y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Inclusive pixel box (y0, y1, x0, x1) of unit (y, x), clipped to the image."""
    half = (rf['size'] - 1) / 2
    cy, cx = rf['start'] + rf['jump'] * y, rf['start'] + rf['jump'] * x
    y0, y1 = max(0, math.ceil(cy - half)), min(height - 1, math.floor(cy + half))
    x0, x1 = max(0, math.ceil(cx - half)), min(width - 1, math.floor(cx + half))
    return y0, y1, x0, x1


@torch.no_grad()
def conv_activations(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Output of the ReLU after each conv (what neuronscope records), eval mode."""
    model.eval()
    acts: dict[str, torch.Tensor] = {}
    h = x
    names = dict(model.named_children())
    for name, layer in names.items():
        h = layer(h)
        if name.startswith('relu') and name != 'relu_fc1':
            acts['conv' + name[4:]] = h
        if name == 'pool3':
            break
    return acts


# ----------------------------------------------------------------------------------------------- train


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = T.predict(model, x).argmax(1)
    return float((pred == y).float().mean().item())


def fixed_images(labels: np.ndarray, per_class: int) -> list[int]:
    """The first `per_class` test images of each class, in test-set order."""
    chosen: list[int] = []
    for c in range(10):
        chosen += [int(i) for i in np.flatnonzero(labels == c)[:per_class]]
    return sorted(chosen)


def cmd_train(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    T.set_determinism(args.seed, args.threads)
    out: Path = args.out
    (out / 'checkpoints').mkdir(parents=True, exist_ok=True)
    (out / 'images').mkdir(exist_ok=True)
    train_img, train_lbl = T.load_split(args.data_dir, 'train')
    test_img, test_lbl = T.load_split(args.data_dir, 't10k')
    if args.train_subset:
        train_img, train_lbl = train_img[: args.train_subset], train_lbl[: args.train_subset]
    x_train, y_train = T.to_tensor(train_img), torch.from_numpy(train_lbl.astype(np.int64))
    x_test, y_test = T.to_tensor(test_img), torch.from_numpy(test_lbl.astype(np.int64))

    chosen = fixed_images(test_lbl, args.images_per_class)
    images = []
    for i in chosen:
        name = f'{i:05d}.png'
        T.write_png_gray8(out / 'images' / name, test_img[i])
        images.append({'file': f'images/{name}', 'index': i, 'label': int(test_lbl[i])})
    (out / 'labels.txt').write_text('\n'.join(T.LABELS) + '\n')

    model = T.FashionVGG()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    epochs = []

    def checkpoint(epoch: int, loss: float | None, seconds: float) -> None:
        torch.save(model.state_dict(), out / 'checkpoints' / f'epoch-{epoch:02d}.pt')
        onnx_path = out / 'checkpoints' / f'epoch-{epoch:02d}.onnx'
        T.export_onnx(model, onnx_path)
        acc = evaluate(model, x_test, y_test)
        epochs.append({'epoch': epoch, 'loss': loss, 'test_acc': acc, 'seconds': seconds,
                       'onnx': str(onnx_path.relative_to(out))})
        print(f'epoch {epoch:2d}  loss {loss if loss is not None else float("nan"):.4f}  test acc {acc:.4f}  '
              f'{seconds:5.1f} s', flush=True)

    def write_manifest() -> None:
        manifest = {
            'command': ' '.join(['python3', 'tools/reproduction/fashion.py', *sys.argv[1:]]),
            'epochs': epochs,
            'images': images,
            'seed': args.seed,
            'lr': args.lr,
            'batch_size': args.batch_size,
            'train_images': int(x_train.shape[0]),
            'test_images': int(x_test.shape[0]),
            'seconds': time.perf_counter() - t_start,
            'torch': torch.__version__,
        }
        # Rewritten after every epoch, so an interrupted run still describes the checkpoints it saved.
        (out / 'train.json').write_text(json.dumps(manifest, indent=2) + '\n')

    checkpoint(0, None, 0.0)
    write_manifest()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        total = 0.0
        for i in range(0, x_train.shape[0], args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        checkpoint(epoch, total / x_train.shape[0], time.perf_counter() - t0)
        write_manifest()

    print(f'wrote {out}/train.json ({len(epochs)} checkpoints, {len(images)} images) in '
          f'{time.perf_counter() - t_start:.0f} s')
    return 0


# --------------------------------------------------------------------------------------------- patches


class Boxes:
    """Where a selected neuron's patch is cut: the receptive-field box of its most active unit on the clean image
    (computed here), or its deconvnet box (Zeiler & Fergus, as the paper), read from `deconv-boxes.json`, which
    neuronscope's own deconvnet computed (`tools/reproduction/dist/fashion-deconv.js`)."""

    def __init__(self, kind: str, rfs: dict[str, dict[str, float]], deconv_file: Path | None) -> None:
        self.kind = kind
        self.rfs = rfs
        self.deconv: dict[tuple[int, str, str, int], dict] = {}
        self.unit_mismatches = 0
        if kind == 'deconv':
            data = json.loads(deconv_file.read_text())
            self.settings = {k: data[k] for k in ('mode', 'unpool', 'boxThreshold')}
            for run in data['runs']:
                for layer in run['layers']:
                    for neuron in layer['neurons']:
                        self.deconv[(run['epoch'], run['image'], layer['layer'], neuron['channel'])] = neuron

    def box(self, epoch: int, image: str, conv: str, channel: int, unit: int, w: int) -> tuple[int, int, int, int] | None:
        """Inclusive (y0, y1, x0, x1) of the neuron whose most active unit is `unit` (y * w + x); None: no box."""
        if self.kind == 'receptive-field':
            return rf_box(self.rfs[conv], unit // w, unit % w, 28, 28)
        neuron = self.deconv.get((epoch, image, onnx_layer_name(conv), channel))
        if neuron is None:
            raise SystemExit(f'no deconvnet box for epoch {epoch}, {image}, {conv} channel {channel}: '
                             'run tools/reproduction/dist/fashion-deconv.js again')
        if neuron['unit'] != unit:
            self.unit_mismatches += 1  # ties of the argmax between PyTorch and onnxruntime; counted, reported
        if neuron['box'] is None:
            return None
        top, left, bottom, right = neuron['box']
        return top, bottom, left, right


def patch_dataset(model: nn.Module, images: np.ndarray, selections: list[dict], key: str, boxes: Boxes,
                  epoch: int) -> dict:
    """Masked images (outside the box of each selected neuron set to 0), one per (image, selected neuron), with
    the image's position and the neuron's layer; how many selected neurons were silent on the clean image (no
    positive unit: their patch is blank) or had no box; and each patch's box area in pixels (0 when blank)."""
    x = T.to_tensor(images)
    acts = conv_activations(model, x)
    patches, owners, layers, areas = [], [], [], []
    silent = 0
    for n, sel in enumerate(selections):
        for layer in sel['layers']:
            conv = layer['conv']
            a = acts[conv][n]  # C x H x W
            w = a.shape[2]
            for channel in layer[key]:
                m = a[channel]
                patch = np.zeros((28, 28), dtype=np.float32)
                box = None
                if float(m.max()) > 0:
                    box = boxes.box(epoch, sel['image'], conv, channel, int(torch.argmax(m).item()), w)
                if box is None:
                    silent += 1
                    areas.append(0)
                else:
                    y0, y1, x0, x1 = box
                    patch[y0 : y1 + 1, x0 : x1 + 1] = images[n, y0 : y1 + 1, x0 : x1 + 1] / 255.0
                    areas.append((y1 - y0 + 1) * (x1 - x0 + 1))
                patches.append(patch)
                owners.append(n)
                layers.append(CONV_LAYERS.index(conv))
    return {'patches': np.stack(patches), 'owners': np.asarray(owners), 'layers': np.asarray(layers),
            'silent': silent, 'areas': np.asarray(areas)}


class PatchNet(nn.Module):
    """The small classifier trained on patches: one conv block and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def patch_accuracy(patches: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, seed: int,
                   epochs: int) -> tuple[float, np.ndarray]:
    """Test accuracy of a PatchNet trained on the training patches, and whether each test patch was right."""
    torch.manual_seed(seed)
    x = torch.from_numpy(patches).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    tr, te = torch.from_numpy(train_mask), torch.from_numpy(~train_mask)
    net = PatchNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = x[tr], y[tr]
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(xt.shape[0], generator=gen)
        for i in range(0, xt.shape[0], 128):
            idx = perm[i : i + 128]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        right = (net(x[te]).argmax(1) == y[te]).numpy()
    return float(right.mean()), right


def cmd_patches(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    T.set_determinism(args.seed, args.threads)
    out: Path = args.out
    manifest = json.loads((out / 'train.json').read_text())
    selection = json.loads((out / 'selections.json').read_text())
    test_img, test_lbl = T.load_split(args.data_dir, 't10k')
    index = [im['index'] for im in manifest['images']]
    images = test_img[index]
    labels = test_lbl[index]
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(index))
    train_images = np.zeros(len(index), dtype=bool)
    train_images[perm[: int(round(0.6 * len(index)))]] = True

    rfs = receptive_fields(T.FashionVGG())
    boxes = Boxes(args.boxes, rfs, args.deconv_boxes or out / 'deconv-boxes.json')
    rows = []
    for ep in [e for e in manifest['epochs'] if e['epoch'] <= args.epochs]:
        epoch = ep['epoch']
        runs = [r for r in selection['runs'] if r['epoch'] == epoch]
        by_image = {r['image']: r for r in runs}
        sels = []
        for im in manifest['images']:
            r = by_image[im['file']]
            sels.append({'image': im['file'], 'layers': [
                {'conv': layer['layer'].split('/')[1].replace('relu', 'conv'), 'correlation': layer['byCorrelation'],
                 'precision': layer['byPrecision']}
                for layer in r['layers']
            ]})
        model = T.FashionVGG()
        model.load_state_dict(torch.load(out / 'checkpoints' / f'epoch-{epoch:02d}.pt'))
        row = {
            'epoch': epoch,
            'full_network_acc': ep['test_acc'],
            'overlap': float(np.mean([r['overlap'] for r in runs])),
            'jaccard': float(np.mean([r['jaccard'] for r in runs])),
            'overlap_per_layer': [float(np.mean([r['layers'][i]['overlap'] for r in runs]))
                                  for i in range(len(CONV_LAYERS))],
        }
        for key in ('precision', 'correlation'):
            d = patch_dataset(model, images, sels, key, boxes, epoch)
            mask = train_images[d['owners']]
            acc, right = patch_accuracy(d['patches'], labels[d['owners']], mask, args.seed, args.patch_epochs)
            row[f'{key}_patch_acc'] = acc
            test_layers = d['layers'][~mask]
            row[f'{key}_patch_acc_per_layer'] = [float(right[test_layers == i].mean()) if (test_layers == i).any()
                                                 else None for i in range(len(CONV_LAYERS))]
            drawn = d['areas'] > 0
            row[f'{key}_box_area_per_layer'] = [float(d['areas'][drawn & (d['layers'] == i)].mean())
                                                if (drawn & (d['layers'] == i)).any() else None
                                                for i in range(len(CONV_LAYERS))]
            row[f'{key}_silent'] = d['silent']
            row[f'{key}_patches'] = int(len(d['owners']))
        rows.append(row)
        print(f'epoch {epoch:2d}  acc {row["full_network_acc"]:.3f}  overlap {row["overlap"]:.3f}  jaccard '
              f'{row["jaccard"]:.3f}  precision patches {row["precision_patch_acc"]:.3f}  correlation patches '
              f'{row["correlation_patch_acc"]:.3f}', flush=True)

    last = rows[-min(args.last, len(rows) - 1):]
    summary = {
        'last_epochs': [r['epoch'] for r in last],
        'full_network_acc_final': rows[-1]['full_network_acc'],
        'precision_patch_acc_last_mean': float(np.mean([r['precision_patch_acc'] for r in last])),
        'correlation_patch_acc_last_mean': float(np.mean([r['correlation_patch_acc'] for r in last])),
        'overlap_epoch0': rows[0]['overlap'],
        'overlap_final': rows[-1]['overlap'],
        'overlap_last_mean': float(np.mean([r['overlap'] for r in last])),
        'jaccard_epoch0': rows[0]['jaccard'],
        'jaccard_last_mean': float(np.mean([r['jaccard'] for r in last])),
    }
    result = {
        'command': ' '.join(['python3', 'tools/reproduction/fashion.py', *sys.argv[1:]]),
        'boxes': args.boxes,
        'deconv': boxes.settings if args.boxes == 'deconv' else None,
        # Selected neurons whose most active unit differs between PyTorch's argmax and the deconvnet's (ties).
        'unit_mismatches': boxes.unit_mismatches,
        'images': len(index),
        'train_images': int(train_images.sum()),
        'receptive_fields': rfs,
        'rows': rows,
        'summary': summary,
        'seconds': time.perf_counter() - t_start,
    }
    suffix = '' if args.boxes == 'receptive-field' else f'-{args.boxes}'
    (out / f'results{suffix}.json').write_text(json.dumps(result, indent=2) + '\n')
    (out / f'results{suffix}.md').write_text(results_markdown(result))
    (out / 'overlap.svg').write_text(line_chart(
        [r['epoch'] for r in rows],
        {'overlap |A∩B|/(|A|+|B|)': [r['overlap'] for r in rows], 'Jaccard': [r['jaccard'] for r in rows]},
        'Overlap of correlation- and precision-selected neurons', 'epoch', (0, 0.6)))
    (out / f'generalization{suffix}.svg').write_text(line_chart(
        [r['epoch'] for r in rows],
        {'full network': [r['full_network_acc'] for r in rows],
         'precision patches': [r['precision_patch_acc'] for r in rows],
         'correlation patches': [r['correlation_patch_acc'] for r in rows]},
        f'Test accuracy ({args.boxes} boxes)', 'epoch', (0, 1)))
    print(json.dumps(summary, indent=2))
    return 0


def results_markdown(result: dict) -> str:
    lines = ['| epoch | full network | precision patches | correlation patches | overlap | Jaccard |',
             '| ---: | ---: | ---: | ---: | ---: | ---: |']
    for r in result['rows']:
        lines.append(f'| {r["epoch"]} | {r["full_network_acc"]:.3f} | {r["precision_patch_acc"]:.3f} | '
                     f'{r["correlation_patch_acc"]:.3f} | {r["overlap"]:.3f} | {r["jaccard"]:.3f} |')
    return '\n'.join(lines) + '\n'


def line_chart(xs: list[float], series: dict[str, list[float]], title: str, xlabel: str,
               yrange: tuple[float, float]) -> str:
    """A small self-contained SVG line chart (no plotting library is needed)."""
    w, h, left, right, top, bottom = 560, 320, 50, 170, 30, 40
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = yrange
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)  # noqa: E731
    py = lambda y: top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom)  # noqa: E731
    colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="11"><rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="13">{title}</text>']
    for k in range(6):
        y = y0 + (y1 - y0) * k / 5
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 14}" text-anchor="middle">{x:g}</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{h - 8}" text-anchor="middle">{xlabel}</text>')
    for i, (name, ys) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        pts = ' '.join(f'{px(x):.1f},{py(y):.1f}' for x, y in zip(xs, ys))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        ly = top + 14 + 18 * i
        parts.append(f'<line x1="{w - right + 10}" x2="{w - right + 28}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                     f'stroke-width="2"/><text x="{w - right + 32}" y="{ly + 4}">{name.replace("&", "&amp;")}</text>')
    parts.append('</svg>')
    return '\n'.join(parts) + '\n'


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='command', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--out', type=Path, default=REPO_ROOT / 'out' / 'reproduction' / 'fashion')
    common.add_argument('--data-dir', type=Path, default=Path('/usr/share/datasets/fashion-mnist'))
    common.add_argument('--seed', type=int, default=0)
    common.add_argument('--threads', type=int, default=2)
    tr = sub.add_parser('train', parents=[common], help='train, checkpoint every epoch, export ONNX')
    tr.add_argument('--epochs', type=int, default=20)
    tr.add_argument('--lr', type=float, default=1e-3)
    tr.add_argument('--batch-size', type=int, default=128)
    tr.add_argument('--images-per-class', type=int, default=10)
    tr.add_argument('--train-subset', type=int, default=0, help='train on the first N training images (0: all)')
    pa = sub.add_parser('patches', parents=[common], help='patch classifiers and overlap per epoch')
    pa.add_argument('--patch-epochs', type=int, default=15, help='training epochs of each patch classifier')
    pa.add_argument('--epochs', type=int, default=10**9, help='only checkpoints up to this epoch')
    pa.add_argument('--last', type=int, default=10, help='summary means over the last this many epochs')
    pa.add_argument('--boxes', choices=['receptive-field', 'deconv'], default='receptive-field',
                    help="where patches are cut: the receptive field of the neuron's most active unit, or its "
                         'deconvnet box from --deconv-boxes (writes results-deconv.*)')
    pa.add_argument('--deconv-boxes', type=Path, default=None,
                    help='deconvnet boxes from tools/reproduction/dist/fashion-deconv.js (default OUT/deconv-boxes.json)')
    args = ap.parse_args(argv)
    return {'train': cmd_train, 'patches': cmd_patches}[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
