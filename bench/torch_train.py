#!/usr/bin/env python3
"""Train a seed model in PyTorch with its .net file's recipe, on the data `netc train` uses,
and write a run directory that `netc report` reads beside netc's runs.

What is the same as `netc train`:
  * the model: the seed's PyTorch code (tools/make_fixtures.py), checked against netc's
    parameter count;
  * the recipe: read from `netc summary FILE --format json` (optimizer, schedule with its
    per-epoch steps and per-step warm-up, epochs, batch, val_size, seed, init, augment);
  * the data: the pixels netc decodes, its train/validation split for the recipe's seed and
    its normalisation statistics (the training part's per-channel mean and population std),
    all taken from `cargo run --release --example train_split` (examples/train_split.rs),
    so there is no second JPEG decoder and no second split;
  * the augmentation: torchvision's semantics as src/train/augment.rs implements them
    (hflip(p); random_resized_crop's get_params with 10 tries and the central fallback, then a
    bilinear resize with half-pixel centres, clamped to the crop; random_crop with zero
    padding), applied in recipe order, then normalisation; full batches only (a partial last
    batch is dropped, as netc's `chunks_exact`).
What differs: the random streams (PyTorch's generators, not netc's ChaCha8 keyed by image),
so the two runs see the same distributions, not the same draws.

The data lives on the device (uint8, augmented there in batched ops), so an epoch is a few
seconds on a datacentre GPU and the 180-epoch recipe fits a short lease.

Writes to --out: metrics.jsonl (one line per epoch, netc's fields: epoch, train_loss,
train_acc, val_acc, lr, seconds, images_per_s, skipped_steps), test.json (the best epoch's
weights on the validation split, as `netc test RUN` does), best.pt (its state dict, which
`netc import` reads) and torch_run.json (framework, model, params, device, date, command,
data, recipe) — what `netc report` needs to show the run.

Usage:
  python3 bench/torch_train.py models/resnet.net --data ../shared/data/cifar10/train --out runs/torch_resnet
  python3 bench/torch_train.py models/resnet.net --epochs 1 --limit 512 --val-size 100 --out /tmp/t   # a smoke test
Options: --epochs --val-size --limit (as netc train), --device cuda|cpu, --split FILE (reuse a
train_split output), --netc PATH (default: target/release/netc, built if missing).
Requires: torch.
"""
import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_fixtures as mf  # noqa: E402

# netc's model name -> the seed's PyTorch constructor (default hyper-parameters).
BUILD = {
    "ResNet": lambda: mf.ResNet(),
    "ResNetPreAct": lambda: mf.ResNet(block_class=mf.PreActResNetBlock),
    "GoogleNet": lambda: mf.GoogleNet(),
    "DenseNet": lambda: mf.DenseNet(),
}


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr.strip()}")
    return p.stdout


def read_safetensors(path):
    """A safetensors file as numpy arrays, and its metadata (no extra package needed)."""
    dtypes = {"U8": np.uint8, "I64": np.int64, "F32": np.float32}
    with open(path, "rb") as f:
        raw = bytearray(f.read())  # writable, so torch tensors may share it
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dtypes[h["dtype"]]).reshape(h["shape"])
    return out, meta


def learning_rate(recipe, epoch, step, steps_per_epoch):
    """src/train/schedule.rs: per-epoch schedules, per-step linear warm-up."""
    opt, sched = recipe["optimizer"], recipe["schedule"]
    base = opt["lr"]
    if sched["name"] == "multistep":
        lr = base * sched["gamma"] ** sum(epoch >= m for m in sched["milestones"])
    elif sched["name"] == "cosine":
        t = epoch / max(recipe["epochs"], 1)
        lr = sched["min_lr"] + (base - sched["min_lr"]) * (1 + np.cos(np.pi * t)) / 2
    else:
        lr = base
    warm = recipe["warmup_epochs"] * steps_per_epoch
    g = epoch * steps_per_epoch + step
    return lr * (g + 1) / warm if g < warm else lr


def optimizer(recipe, params):
    o = recipe["optimizer"]
    if o["name"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"],
                               nesterov=o["nesterov"])
    cls = torch.optim.AdamW if o["name"] == "adamw" else torch.optim.Adam
    return cls(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"])


def initialise(model, init):
    """The recipe's initialiser, as src/params.rs applies it (BN 1 and 0, linear as PyTorch)."""
    fn = nn.init.kaiming_uniform_ if init["name"] == "kaiming_uniform" else nn.init.kaiming_normal_
    nonlin = {"gelu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh"}.get(init["nonlinearity"], "relu")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if nonlin == "leaky_relu":
                fn(m.weight, a=0.01, mode=init["mode"], nonlinearity=nonlin)
            else:
                fn(m.weight, mode=init["mode"], nonlinearity=nonlin)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resized_crop_boxes(n, height, width, scale, ratio, rng):
    """torchvision's RandomResizedCrop.get_params for n images at once: (top, left, h, w)."""
    area = height * width
    target = area * rng.uniform(scale[0], scale[1], (n, 10))
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]), (n, 10)))
    w = np.round(np.sqrt(target * aspect)).astype(np.int64)
    h = np.round(np.sqrt(target / aspect)).astype(np.int64)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = ok.argmax(1)
    found = ok.any(1)
    rows = np.arange(n)
    hh, ww = h[rows, first], w[rows, first]
    # The central fallback, the input's ratio clamped into range.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fh, fw = round(width / ratio[0]), width
    elif in_ratio > ratio[1]:
        fh, fw = height, round(height * ratio[1])
    else:
        fh, fw = height, width
    hh = np.where(found, hh, fh)
    ww = np.where(found, ww, fw)
    top = np.where(found, (rng.random(n) * (height - hh + 1)).astype(np.int64), (height - fh) // 2)
    left = np.where(found, (rng.random(n) * (width - ww + 1)).astype(np.int64), (width - fw) // 2)
    return top, left, hh, ww


def sample(x, top, left, h, w, size, padding_mode):
    """Crop boxes of x resized to size x size, bilinear with half-pixel centres; source
    coordinates clamped to the box (as src/train/augment.rs `resize_bilinear` of a crop)."""
    dev = x.device
    n, _, height, width = x.shape
    u = torch.arange(size, device=dev, dtype=torch.float32) + 0.5
    t, l_, hh, ww = (torch.as_tensor(v, device=dev, dtype=torch.float32)[:, None] for v in (top, left, h, w))
    sy = t + ((u[None] * hh / size) - 0.5).clamp(min=0).minimum(hh - 1)
    sx = l_ + ((u[None] * ww / size) - 0.5).clamp(min=0).minimum(ww - 1)
    gy = (2 * sy + 1) / height - 1
    gx = (2 * sx + 1) / width - 1
    grid = torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def augment(x, augments, rng):
    """The recipe's augmentations in order, on a batch in [0, 1] on the device."""
    n = x.shape[0]
    for a in augments:
        if a["name"] == "hflip":
            flip = torch.as_tensor(rng.random(n) < a["p"], device=x.device)[:, None, None, None]
            x = torch.where(flip, x.flip(3), x)
        elif a["name"] == "random_resized_crop":
            top, left, h, w = resized_crop_boxes(n, x.shape[2], x.shape[3], a["scale"], a["ratio"], rng)
            x = sample(x, top, left, h, w, a["size"], "border")
        elif a["name"] == "random_crop":
            p, s = a["padding"], a["size"]
            top = rng.integers(0, x.shape[2] + 2 * p - s + 1, n) - p
            left = rng.integers(0, x.shape[3] + 2 * p - s + 1, n) - p
            # Pixel-exact sampling; outside the image is the zero padding.
            x = sample(x, top, left, np.full(n, s), np.full(n, s), s, "zeros")
        else:
            sys.exit(f"augmentation {a['name']} is not mirrored here")
    return x


def accuracy(model, x, y, mean, std, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = (x[i:i + batch].float() / 255 - mean) / std
            correct += (model(xb).argmax(1) == y[i:i + batch]).sum().item()
    return correct / max(len(x), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a seed .net file, e.g. models/resnet.net")
    ap.add_argument("--data", default=os.environ.get("NETC_DATA", "data"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--val-size", type=int)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--split", help="a train_split file to reuse instead of making one")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--netc", default=os.path.join(target, "release", "netc"))
    args = ap.parse_args()

    if not os.path.exists(args.netc):
        run(["cargo", "build", "--release", "--bin", "netc"])
    summary = json.loads(run([args.netc, "summary", os.path.abspath(args.model), "--format", "json"]))
    recipe = summary["recipe"]
    if args.epochs:
        recipe["epochs"] = args.epochs
    if args.val_size:
        recipe["val_size"] = args.val_size
    os.makedirs(args.out, exist_ok=True)

    split = args.split or os.path.join(args.out, "split.safetensors")
    if not args.split:
        cmd = ["cargo", "run", "--release", "--quiet", "--example", "train_split", "--",
               os.path.abspath(args.data), "--val-size", str(recipe["val_size"]), "--seed", str(recipe["seed"]),
               "-o", os.path.abspath(split)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print(run(cmd).strip())
    d, meta = read_safetensors(split)

    dev = torch.device(args.device)
    torch.manual_seed(recipe["seed"])
    torch.backends.cudnn.allow_tf32 = False  # f32 arithmetic, as netc's kernels
    torch.backends.cuda.matmul.allow_tf32 = False
    model = BUILD[summary["model"]]()
    initialise(model, recipe["init"])
    params = sum(p.numel() for p in model.parameters())
    if params != summary["params"]:
        sys.exit(f"{summary['model']}: PyTorch has {params} parameters, netc {summary['params']}")
    model.to(dev)
    opt = optimizer(recipe, model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    train_x, train_y = torch.as_tensor(d["train.x"], device=dev), torch.as_tensor(d["train.y"], device=dev)
    val_x, val_y = torch.as_tensor(d["val.x"], device=dev), torch.as_tensor(d["val.y"], device=dev)
    mean = torch.as_tensor(d["mean"], device=dev)[None, :, None, None]
    std = torch.as_tensor(d["std"], device=dev)[None, :, None, None]
    batch = recipe["batch"]
    steps = len(train_x) // batch
    if steps == 0:
        sys.exit(f"{len(train_x)} training images make no batch of {batch}")

    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    info = {
        "framework": f"PyTorch {torch.__version__}", "model": summary["model"], "file": args.model,
        "params": params, "device": device_name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "command": " ".join(["python3"] + sys.argv), "data": meta.get("data", args.data),
        "images": int(meta.get("images", len(train_x) + len(val_x))), "limit": args.limit, "recipe": recipe,
    }
    with open(os.path.join(args.out, "torch_run.json"), "w") as f:
        json.dump(info, f, indent=2)

    history, best, best_state = [], -1.0, None
    for epoch in range(recipe["epochs"]):
        started = time.time()
        model.train()
        rng = np.random.default_rng([recipe["seed"], epoch])
        order = torch.as_tensor(rng.permutation(len(train_x)), device=dev)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev)
        for s in range(steps):
            lr = learning_rate(recipe, epoch, s, steps)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[s * batch:(s + 1) * batch]
            x = augment(train_x[idx].float() / 255, recipe["augment"], rng)
            x = (x - mean) / std
            y = train_y[idx]
            out = model(x)
            loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * batch
            correct += (out.argmax(1) == y).sum()
        val_acc = accuracy(model, val_x, val_y, mean, std)
        seconds = time.time() - started
        seen = steps * batch
        m = {"epoch": epoch + 1, "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen,
             "val_acc": val_acc, "lr": lr, "seconds": seconds, "images_per_s": seen / seconds, "skipped_steps": 0}
        history.append(m)
        with open(os.path.join(args.out, "metrics.jsonl"), "w") as f:
            f.write("".join(json.dumps(h) + "\n" for h in history))
        if val_acc > best:
            best, best_state = val_acc, copy.deepcopy(model.state_dict())
        print(f"epoch {epoch + 1}/{recipe['epochs']}: loss {m['train_loss']:.4f} train {m['train_acc']:.4f} "
              f"val {val_acc:.4f} lr {lr:g} {seconds:.1f}s", flush=True)

    model.load_state_dict(best_state)
    torch.save(best_state, os.path.join(args.out, "best.pt"))
    test = {"accuracy": accuracy(model, val_x, val_y, mean, std), "images": len(val_x),
            "data": f"the run's validation split of {info['data']}"}
    with open(os.path.join(args.out, "test.json"), "w") as f:
        json.dump(test, f, indent=2)
    print(f"best val {best:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
