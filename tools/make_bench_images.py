#!/usr/bin/env python3
"""Writes N photo-sized JPEGs (500x375 and 375x500, quality 90, smooth content with
noise) in class folders, for `netc bench-data` (BENCHMARKS.md). Needs numpy and Pillow.

    python3 tools/make_bench_images.py DIR [N]
"""
import os
import sys

import numpy as np
from PIL import Image

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 512
rng = np.random.default_rng(0)
for i in range(n):
    w, h = (500, 375) if i % 4 else (375, 500)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    f = rng.uniform(0.005, 0.05, size=3)
    rgb = np.stack([127 + 100 * np.sin(x * f[0] + y * f[1] * c) for c in (0.5, 1.0, 1.5)], -1)
    rgb += rng.normal(0, 12, size=rgb.shape)
    d = os.path.join(out, f"class{i % 4}")
    os.makedirs(d, exist_ok=True)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(os.path.join(d, f"{i:05}.jpg"), quality=90)
print(f"wrote {n} images to {out}")
