#!/usr/bin/env python3
"""Train neuronscope's embedded default model: a small VGG-style CNN on Fashion-MNIST.

Reads the Fashion-MNIST IDX files (Debian package `dataset-fashion-mnist`) with the standard
library and numpy, trains deterministically on the CPU, exports the network to ONNX and writes
everything the CLI ships in packages/engine/default-model/:

    fashion-vgg.onnx   the network (input `input` N x 1 x 28 x 28 in [0, 1], output `logits` N x 10)
    labels.txt         the ten class names, one per line, in output order
    model.json         how the CLI loads it (preprocess preset `none`, grayscale, 28 x 28)
    images/            the first test image of each class, 28 x 28 8-bit grayscale PNG
    MODEL_CARD.md      architecture, data, command, measured accuracy, SHA-256, training time

Every number in the model card is measured by this run, so rerunning the command regenerates all
of it. The product itself never runs Python: this tool only produces the committed artefacts.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import shlex
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / 'packages' / 'cli' / 'default-model'
ONNX_NAME = 'fashion-vgg.onnx'
DEFAULT_IMAGE_CLASS = 9  # the first test image of the whole set is an ankle boot

LABELS = [
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
]
SLUGS = [
    'tshirt-top',
    'trouser',
    'pullover',
    'dress',
    'coat',
    'sandal',
    'shirt',
    'sneaker',
    'bag',
    'ankle-boot',
]


# --------------------------------------------------------------------------------------------- data


def _open_maybe_gz(path: Path) -> bytes:
    if path.exists():
        with gzip.open(path, 'rb') if path.suffix == '.gz' else open(path, 'rb') as f:
            return f.read()
    plain = path.with_suffix('') if path.suffix == '.gz' else path
    if plain.exists():
        return plain.read_bytes()
    raise FileNotFoundError(f'{path} (nor {plain}) not found; install the Debian package dataset-fashion-mnist')


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): big-endian magic 0x00 0x00 <type> <ndim>, then dims."""
    raw = _open_maybe_gz(path)
    zero, dtype_code, ndim = struct.unpack('>HBB', raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})')
    dims = struct.unpack(f'>{ndim}I', raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f'{path}: expected {np.prod(dims)} values, found {data.size}')
    return data.reshape(dims)


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(data_dir / f'{split}-images-idx3-ubyte.gz')
    labels = read_idx(data_dir / f'{split}-labels-idx1-ubyte.gz')
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f'{split}: unexpected shapes {images.shape} / {labels.shape}')
    return images, labels


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28 in [0, 1] (x / 255, no mean/std normalisation)."""
    return torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)


# -------------------------------------------------------------------------------------------- model


class FashionVGG(nn.Module):
    """VGG-style: two double-conv blocks and one single-conv block, each followed by 2 x 2 max-pooling.

    Attribute names become the ONNX node names (`/conv1_1/Conv`, `/relu1_1/Relu`, ...). The BatchNorm
    layers only help training: the eval-mode ONNX export folds each into the Conv before it, so the
    exported graph is Conv -> Relu throughout.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.conv1_1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1_1 = nn.BatchNorm2d(16)
        self.relu1_1 = nn.ReLU()
        self.conv1_2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn1_2 = nn.BatchNorm2d(16)
        self.relu1_2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2_1 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2_1 = nn.BatchNorm2d(32)
        self.relu2_1 = nn.ReLU()
        self.conv2_2 = nn.Conv2d(32, 32, 3, padding=1)
        self.bn2_2 = nn.BatchNorm2d(32)
        self.relu2_2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3_1 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3_1 = nn.BatchNorm2d(64)
        self.relu3_1 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 3 * 3, 128)
        self.relu_fc1 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


def architecture_rows(model: nn.Module) -> list[tuple[str, str, str, int]]:
    """(name, type, output shape, params) for every child, from a probe forward pass."""
    rows = []
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            desc = type(layer).__name__
            if isinstance(layer, nn.Conv2d):
                k = layer.kernel_size
                desc = f'Conv2d {k[0]}x{k[1]}, {layer.in_channels}->{layer.out_channels}, pad {layer.padding[0]}'
            elif isinstance(layer, nn.MaxPool2d):
                desc = f'MaxPool2d {layer.kernel_size}x{layer.kernel_size}'
            elif isinstance(layer, nn.Linear):
                desc = f'Linear {layer.in_features}->{layer.out_features}'
            elif isinstance(layer, nn.BatchNorm2d):
                desc = f'BatchNorm2d {layer.num_features} (folded into the Conv in ONNX)'
            elif isinstance(layer, nn.Dropout):
                desc = f'Dropout p={layer.p} (identity at inference)'
            shape = ' x '.join(['N', *[str(d) for d in x.shape[1:]]])
            params = sum(p.numel() for p in layer.parameters())
            rows.append((name, desc, shape, params))
    return rows


# ----------------------------------------------------------------------------------- train / eval


def set_determinism(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only possible once per process)
    torch.use_deterministic_algorithms(True)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    flip: bool,
) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (x.shape[0] + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0], generator=gen)
        total_loss, correct = 0.0, 0
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            xb, yb = x[idx], y[idx]
            if flip:
                # Horizontal flip of a random half of the batch (label-preserving for Fashion-MNIST).
                mask = torch.rand(xb.shape[0], generator=gen) < 0.5
                xb = torch.where(mask[:, None, None, None], xb.flip(3), xb)
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * xb.shape[0]
            correct += (logits.argmax(1) == yb).sum().item()
        dt = time.perf_counter() - t0
        rec = {
            'epoch': epoch,
            'loss': total_loss / x.shape[0],
            'train_acc': correct / x.shape[0],
            'seconds': dt,
        }
        history.append(rec)
        print(
            f'epoch {epoch:2d}/{epochs}  loss {rec["loss"]:.4f}  train acc {rec["train_acc"]:.4f}  '
            f'{dt:6.1f} s  lr {sched.get_last_lr()[0]:.2e}',
            flush=True,
        )
    return history


# ------------------------------------------------------------------------------------------- export


def export_onnx(model: nn.Module, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (dummy,),
        buf,
        dynamo=False,
        export_params=True,
        opset_version=17,
        do_constant_folding=True,
        input_names=['input'],
        output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
    )
    # The folded Conv weights come out as `onnx::Conv_63` etc.; name them after their layer instead
    # (`conv1_1.weight`, `conv1_1.bias`), as the Linear ones already are.
    m = onnx.load_from_string(buf.getvalue())
    rename = {}
    for node in m.graph.node:
        if node.op_type == 'Conv':
            layer = node.name.strip('/').split('/')[0]
            for i, suffix in ((1, 'weight'), (2, 'bias')):
                if i < len(node.input):
                    rename[node.input[i]] = f'{layer}.{suffix}'
                    node.input[i] = f'{layer}.{suffix}'
    for init in m.graph.initializer:
        init.name = rename.get(init.name, init.name)
    path.write_bytes(m.SerializeToString(deterministic=True))


def onnx_layer_names(m: onnx.ModelProto) -> list[tuple[str, str, str, str]]:
    """(node name, op type, output tensor, producer of its input) of every Conv and Relu, in graph order."""
    producer = {o: n.op_type for n in m.graph.node for o in n.output}
    return [
        (n.name, n.op_type, n.output[0], producer.get(n.input[0], 'graph input'))
        for n in m.graph.node
        if n.op_type in ('Conv', 'Relu')
    ]


# ---------------------------------------------------------------------------------------------- PNG


def write_png_gray8(path: Path, img: np.ndarray) -> None:
    """Minimal deterministic PNG writer: 8-bit grayscale, no interlace, filter 0 on every row."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b''.join(b'\x00' + img[r].tobytes() for r in range(h))
    png = (
        b'\x89PNG\r\n\x1a\n'
        + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
        + chunk(b'IDAT', zlib.compress(raw, 9))
        + chunk(b'IEND', b'')
    )
    path.write_bytes(png)


# ------------------------------------------------------------------------------------------ outputs


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model_json(out: Path, default_image: str) -> None:
    # Written by hand (not json.dumps(indent=2)) so that it is already in the repo's Biome format.
    text = (
        '{\n'
        f'  "model": {json.dumps(ONNX_NAME)},\n'
        '  "labels": "labels.txt",\n'
        '  "preprocess": { "preset": "none", "grayscale": true, "size": [28, 28] },\n'
        f'  "defaultImage": {json.dumps(default_image)}\n'
        '}\n'
    )
    json.loads(text)  # sanity
    (out / 'model.json').write_text(text)


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """A Markdown table padded the way the repo's formatter (Biome) lays it out, so `biome check` passes."""
    align = align or ['l'] * len(header)
    widths = [max(3, len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def cell(text: str, i: int) -> str:
        return text.rjust(widths[i]) if align[i] == 'r' else text.ljust(widths[i])

    def line(cells: list[str]) -> str:
        return '| ' + ' | '.join(cells) + ' |'

    sep = [('-' * (w - 1) + ':') if a == 'r' else '-' * w for w, a in zip(widths, align)]
    return '\n'.join([line([cell(h, i) for i, h in enumerate(header)]), line(sep)] + [line([cell(c, i) for i, c in enumerate(r)]) for r in rows])


def write_model_card(out: Path, info: dict) -> None:
    arch = md_table(
        ['Layer', 'Type', 'Output shape', 'Params'],
        [[f'`{n}`', t, s, f'{p:,}'] for n, t, s, p in info['arch']],
        ['l', 'l', 'l', 'r'],
    )
    layers = md_table(
        ['ONNX node', 'Op', 'Input from', 'Output tensor', 'Shape'],
        [[f'`{n}`', op, src, f'`{o}`', shp] for n, op, o, src, shp in info['onnx_layers']],
        ['l', 'l', 'l', 'l', 'l'],
    )
    per_class = md_table(
        ['Class', 'Label', 'Test images', 'Accuracy'],
        [[str(c), LABELS[c], str(n), f'{a:.4f}'] for c, (n, a) in enumerate(info['per_class'])],
        ['r', 'l', 'r', 'r'],
    )
    images = md_table(
        ['Image', 'Test index', 'True class', 'Prediction', 'Probability', 'Correct'],
        [
            [f'`images/{r["file"]}`', str(r['index']), LABELS[r['label']], LABELS[r['pred']], f'{r["prob"]:.4f}',
             'yes' if r['pred'] == r['label'] else '**no**']
            for r in info['images']
        ],
        ['l', 'r', 'l', 'l', 'r', 'l'],
    )
    epochs = md_table(
        ['Epoch', 'Train loss', 'Train accuracy', 'Seconds'],
        [[str(h['epoch']), f'{h["loss"]:.4f}', f'{h["train_acc"]:.4f}', f'{h["seconds"]:.1f}'] for h in info['history']],
        ['r', 'r', 'r', 'r'],
    )
    summary = md_table(
        ['', ''],
        [
            ['Task', '10-class image classification, Fashion-MNIST'],
            ['Input', '`input`: float32 `N x 1 x 28 x 28` (NCHW), grayscale pixel / 255 in [0, 1], no mean/std normalisation'],
            ['Output', '`logits`: float32 `N x 10` (raw logits; softmax gives probabilities), class order as in `labels.txt`'],
            ['neuronscope preprocessing', 'preset `none`, `grayscale: true`, size 28 x 28 (see `model.json`)'],
            ['ONNX', f"opset {info['opset']}, IR version {info['ir_version']}, batch axis dynamic, exported by torch "
                     f"{info['torch']} (`dynamo=False`, constant folding)"],
            ['File size', f"{info['onnx_size']:,} bytes"],
            ['SHA-256', f"`{info['sha256']}`"],
            ['Parameters', f"{info['params']:,} in training, {info['onnx_params']:,} in the ONNX file"],
            ['**Test accuracy**', f"**{info['test_acc']:.4f}** ({info['test_correct']:,} / {info['test_n']:,} Fashion-MNIST test images)"],
            ['ONNX vs PyTorch', f"max abs logit difference {info['max_abs_diff']:.3g} on the first 100 test images (`onnx.reference`)"],
        ],
    )
    training = md_table(
        ['', ''],
        [
            ['Command', f"`{info['command']}`"],
            ['Epochs', str(info['epochs'])],
            ['Seed', str(info['seed'])],
            ['Optimiser', f"Adam, lr {info['lr']:g}, cosine decay to 0 over all steps, batch {info['batch_size']}"],
            ['Augmentation', 'random horizontal flip (p = 0.5)' if info['flip'] else 'none'],
            ['Loss', 'cross-entropy'],
            ['Determinism', f"`torch.manual_seed`, `torch.use_deterministic_algorithms(True)`, {info['threads']} intra-op "
                            'threads, seeded shuffling'],
            ['Training time', f"**{info['train_seconds']:.1f} s** (whole run {info['total_seconds']:.1f} s) on this machine: "
                              f"{info['machine']}"],
            ['Machine load', f"1-minute load average {info['load_start']:.2f} at the start, {info['load_end']:.2f} at the end "
                             '(other work shares the cores, so times vary)'],
            ['Software', f"Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, onnx {info['onnx']}"],
        ],
    )
    text = f"""# Model card: `fashion-vgg.onnx` (neuronscope's embedded default model)

Generated by `tools/train-default-model/train.py`; every number below was measured by the run that
wrote this file. Do not edit by hand: rerun the command instead.

## Summary

{summary}

## Architecture

A small VGG-style network: 3 x 3 convolutions with ReLU, 2 x 2 max-pooling after each block. The
BatchNorm layers exist only in training: the eval-mode export folds each into the Conv before it, so
the ONNX graph has no BatchNormalization node ({info['onnx_params']:,} parameters in the ONNX file).

{arch}

ONNX Conv and Relu nodes in graph order. Each of the five Conv nodes is directly followed by a
Relu, so neuronscope records five conv layers, each at its Relu output (`/reluX_Y/Relu_output_0`);
`/relu_fc1/Relu` follows the fully connected `Gemm` and is not a conv layer.

{layers}

## Training data

Fashion-MNIST (Zalando Research; Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747), licence MIT,
read from the Debian package `dataset-fashion-mnist`
(`{info['data_dir']}`): 60,000 training and 10,000 test images, 28 x 28 grayscale.
All 60,000 training images are used for training; the 10,000 test images only for the final
evaluation below (no model selection on them: the number of epochs is fixed in advance).

## Training

{training}

{epochs}

## Evaluation (10,000 Fashion-MNIST test images)

Test accuracy: **{info['test_acc']:.4f}**.

{per_class}

## Bundled images

The first test image of each class, as 28 x 28 8-bit grayscale PNG, with this model's prediction
(softmax probability of the predicted class). `model.json` names `{info['default_image']}` as the default.

{images}

## Intended use and limits

Demonstration model for neuronscope: it lets the CLI run without the user supplying a model. It is
trained on centred, 28 x 28, light-on-dark product photos; it is not meant for real-world photos,
and its predictions outside Fashion-MNIST-like inputs are not meaningful.
"""
    (out / 'MODEL_CARD.md').write_text(text)


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument('--data-dir', type=Path, default=Path('/usr/share/datasets/fashion-mnist'), help='folder with the IDX .gz files')
    ap.add_argument('--epochs', type=int, default=8)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', type=Path, default=DEFAULT_OUT, help='output folder (default: <repo>/packages/engine/default-model)')
    ap.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--flip', action='store_true', help='augment with random horizontal flips')
    ap.add_argument('--min-accuracy', type=float, default=0.90, help='fail (exit 1) below this test accuracy')
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    set_determinism(args.seed, args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / 'images').mkdir(exist_ok=True)

    print(f'reading Fashion-MNIST from {args.data_dir}', flush=True)
    train_img, train_lbl = load_split(args.data_dir, 'train')
    test_img, test_lbl = load_split(args.data_dir, 't10k')
    x_train, y_train = to_tensor(train_img), torch.from_numpy(train_lbl.astype(np.int64))
    x_test, y_test = to_tensor(test_img), torch.from_numpy(test_lbl.astype(np.int64))
    print(f'train {tuple(x_train.shape)}  test {tuple(x_test.shape)}', flush=True)

    model = FashionVGG()
    n_params = sum(p.numel() for p in model.parameters())
    print(f'model: {n_params:,} parameters', flush=True)

    t0 = time.perf_counter()
    history = train(model, x_train, y_train, args.epochs, args.batch_size, args.lr, args.seed, args.flip)
    train_seconds = time.perf_counter() - t0
    print(f'training time {train_seconds:.1f} s', flush=True)

    # ---- evaluation
    model.eval()
    logits = predict(model, x_test)
    pred = logits.argmax(1)
    correct = (pred == y_test).sum().item()
    test_acc = correct / y_test.shape[0]
    per_class = []
    for c in range(10):
        mask = y_test == c
        per_class.append((int(mask.sum().item()), (pred[mask] == c).float().mean().item()))
    print(f'TEST ACCURACY {test_acc:.4f} ({correct}/{y_test.shape[0]})', flush=True)
    for c, (n, a) in enumerate(per_class):
        print(f'  {c} {LABELS[c]:<12} {a:.4f} ({n})')

    # ---- export + verification
    onnx_path = out / ONNX_NAME
    export_onnx(model, onnx_path)
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m, full_check=True)
    ref = ReferenceEvaluator(m)
    (onnx_logits,) = ref.run(None, {'input': x_test[:100].numpy()})
    with torch.no_grad():
        torch_logits = model(x_test[:100]).numpy()
    max_abs_diff = float(np.abs(onnx_logits - torch_logits).max())
    print(f'ONNX checker OK; max abs diff ONNX (onnx.reference) vs PyTorch on 100 test images: {max_abs_diff:.3g}')
    if max_abs_diff > 1e-3 or not np.array_equal(onnx_logits.argmax(1), torch_logits.argmax(1)):
        print('ERROR: ONNX and PyTorch outputs disagree', file=sys.stderr)
        return 1
    # Export a second time from the same weights: the bytes must not change.
    again = out / (ONNX_NAME + '.tmp-again')
    export_onnx(model, again)
    same_bytes = again.read_bytes() == onnx_path.read_bytes()
    again.unlink()
    print(f'second export from the same weights byte-identical: {same_bytes}')

    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = [d.dim_param or str(d.dim_value) for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = ' x '.join('N' if d == 'batch' or not d or d == '0' else d for d in dims)
    onnx_layers = [(n, op, o, src, shapes.get(o, '?')) for n, op, o, src in onnx_layer_names(m)]
    print('ONNX Conv/Relu nodes:')
    for n, op, o, src, shp in onnx_layers:
        print(f'  {n:<16} {op:<5} ({src:<11}) -> {o}  [{shp}]')

    # ---- images, labels, model.json
    images = []
    for c in range(10):
        idx = int(np.flatnonzero(test_lbl == c)[0])
        fname = f'{c}-{SLUGS[c]}.png'
        write_png_gray8(out / 'images' / fname, test_img[idx])
        probs = torch.softmax(logits[idx], 0)
        p = int(probs.argmax().item())
        images.append({'file': fname, 'index': idx, 'label': c, 'pred': p, 'prob': float(probs[p].item())})
        print(f'  images/{fname:<18} test #{idx:<5} -> {LABELS[p]} ({probs[p].item():.4f})')
    (out / 'labels.txt').write_text('\n'.join(LABELS) + '\n')
    default_image = f'images/{DEFAULT_IMAGE_CLASS}-{SLUGS[DEFAULT_IMAGE_CLASS]}.png'
    write_model_json(out, default_image)

    # ---- model card
    digest = sha256(onnx_path)
    script = Path(__file__).resolve()
    try:
        script_shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        script_shown = str(script)
    command = shlex.join(['python3', script_shown, *(argv if argv is not None else sys.argv[1:])])
    total_seconds = time.perf_counter() - t_start
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        'arch': architecture_rows(model),
        'onnx_layers': onnx_layers,
        'per_class': per_class,
        'images': images,
        'history': history,
        'opset': m.opset_import[0].version,
        'ir_version': m.ir_version,
        'torch': torch.__version__,
        'numpy': np.__version__,
        'onnx': onnx.__version__,
        'python': platform.python_version(),
        'onnx_size': onnx_path.stat().st_size,
        'sha256': digest,
        'params': n_params,
        'test_acc': test_acc,
        'test_correct': correct,
        'test_n': int(y_test.shape[0]),
        'max_abs_diff': max_abs_diff,
        'data_dir': args.data_dir,
        'command': command,
        'epochs': args.epochs,
        'seed': args.seed,
        'lr': args.lr,
        'flip': args.flip,
        'batch_size': args.batch_size,
        'threads': args.threads,
        'train_seconds': train_seconds,
        'total_seconds': total_seconds,
        'machine': f'{cpu}, {args.threads} threads ({os.cpu_count()} cores visible), {platform.system()} {platform.machine()}',
        'default_image': default_image,
        'onnx_params': sum(int(np.prod(t.dims)) for t in m.graph.initializer),
        'load_start': load_start,
        'load_end': os.getloadavg()[0],
    }
    write_model_card(out, info)
    print(f'wrote {out}: {ONNX_NAME} ({info["onnx_size"]:,} bytes, sha256 {digest}), labels.txt, model.json, images/, MODEL_CARD.md')
    print(f'total time {total_seconds:.1f} s')
    if test_acc < args.min_accuracy:
        print(f'ERROR: test accuracy {test_acc:.4f} < {args.min_accuracy}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
