#!/usr/bin/env python3
"""Writes tests/fixtures/transforms.json: torchvision's output for netc's deterministic
transforms (resize with antialiasing, center_crop, resized_crop), on small generated
images, so tests/transforms.rs can compare netc's output pixel by pixel without torch.

Semantics compared: torchvision.transforms.v2.functional on float tensors in [0, 1]
(ToTensor first), bilinear, antialias=True (torchvision's default). Run with torch and
torchvision installed: python3 tools/make_transform_fixtures.py (CI does not run it).
"""
import json
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

rng = np.random.default_rng(15)


def image(h, w):
    # Smooth gradients plus noise: both matter for a resampling filter.
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(h + w - 2, 1)], -1)
    noise = rng.integers(-40, 40, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def to_tensor(rgb):
    return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0


cases = []
inputs = {"a": image(23, 37), "b": image(19, 15), "c": image(9, 12)}
B = InterpolationMode.BILINEAR


def add(name, inp, ops, out):
    cases.append({"name": name, "input": inp, "ops": ops, "h": out.shape[1], "w": out.shape[2],
                  "output": [round(float(v), 6) for v in out.flatten()]})


for key, rgb in inputs.items():
    t = to_tensor(rgb)
    # Upsampling (plain bilinear) only on the smallest image, to keep the file small.
    sizes = ([10], [7, 19], [12, 12]) + (([26], [30, 9]) if key == "c" else ())
    for size in sizes:
        out = F.resize(t, size, interpolation=B, antialias=True)
        add(f"resize{size} of {key}", key, [{"resize": size}], out)
    for size in ([8, 8], [20, 25], [13, 6]):
        out = F.center_crop(t, size)
        add(f"center_crop{size} of {key}", key, [{"center_crop": size}], out)
    out = F.center_crop(F.resize(t, [16], interpolation=B, antialias=True), [14, 14])
    add(f"resize[16] then center_crop[14] of {key}", key, [{"resize": [16]}, {"center_crop": [14, 14]}], out)
    # RandomResizedCrop's resampling with given crop parameters (top, left, h, w).
    top, left, h, w = 2, 3, min(15, t.shape[1] - 2), min(11, t.shape[2] - 3)
    for size in (8, 24):
        out = F.resized_crop(t, top, left, h, w, [size, size], interpolation=B, antialias=True)
        add(f"resized_crop({top},{left},{h},{w})->{size} of {key}", key,
            [{"resized_crop": [top, left, h, w, size]}], out)

fixture = {
    "torch": torch.__version__,
    "torchvision": torchvision.__version__,
    "inputs": {k: {"h": v.shape[0], "w": v.shape[1], "rgb": v.flatten().tolist()} for k, v in inputs.items()},
    "cases": cases,
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "transforms.json")
with open(path, "w") as f:
    json.dump(fixture, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
