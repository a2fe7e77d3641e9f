#!/usr/bin/env python3
"""Write the PyTorch parity data of netc's op families (not run by CI).

For the activation family: every activation netc's table lists (the `name:` entries of
src/ops/activation/table.rs, or the names given on the command line) is evaluated as
`torch.nn.functional.<name>` with PyTorch's defaults, in float64, on a fixed set of inputs,
and written to tests/ops/activation/fixtures.json:

  x                     the inputs (0, values near 0, a spread over [-10, 10], large ones)
  activations.<name>    y = F.<name>(x), dx = dy/dx (autograd, PyTorch's derivative at
                        kinks), gain = torch.nn.init.calculate_gain(<name>) or null where
                        PyTorch has none
  torch                 the PyTorch version that wrote the file

Adding an activation to netc means running this again; nothing here names an activation.

Usage: python3 tools/make_op_fixtures.py [NAME ...]
Requires: torch.
"""
import json
import os
import re
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "src", "ops", "activation", "table.rs")
OUT = os.path.join(ROOT, "tests", "ops", "activation", "fixtures.json")


def table_names():
    with open(TABLE) as f:
        return re.findall(r'^\s*name: "([a-z0-9_]+)",', f.read(), re.M)


def inputs():
    xs = [0.0, 1e-300, -1e-300, 1e-7, -1e-7, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 20.0, -20.0, 50.0, -50.0]
    xs += [-10.0 + i * 0.0625 for i in range(321)]
    return xs


def gain(name):
    try:
        return torch.nn.init.calculate_gain(name)
    except ValueError:
        return None


def main():
    names = sys.argv[1:] or table_names()
    if not names:
        sys.exit(f"no activation names found in {TABLE}")
    x = torch.tensor(inputs(), dtype=torch.float64, requires_grad=True)
    out = {"torch": torch.__version__, "x": x.tolist(), "activations": {}}
    for name in names:
        f = getattr(F, name)
        y = f(x)
        (dx,) = torch.autograd.grad(y.sum(), x)
        out["activations"][name] = {
            "pytorch": f"F.{name}",
            "y": y.tolist(),
            "dx": dx.tolist(),
            "gain": gain(name),
        }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {', '.join(names)}")


if __name__ == "__main__":
    main()
