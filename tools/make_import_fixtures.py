#!/usr/bin/env python3
"""Write the PyTorch state-dict fixtures of `netc import`'s tests (not run by CI).

For each seed model (small widths where the model has width hyper-parameters, so the
fixtures stay small) this builds the PyTorch twin of tools/make_fixtures.py with random
weights and random BN running statistics, and writes to tests/fixtures/import/:

  <model>.safetensors   safetensors.torch.save_file(model.state_dict())
  <model>.pt            torch.save(model.state_dict())
  <model>.ckpt          a Lightning-style checkpoint, torch.save of
                        {"epoch", "global_step", "pytorch-lightning_version",
                         "state_dict": {"model.<key>": ...}, "optimizer_states": [...],
                         "lr_schedulers": [], "hyper_parameters": {...}}
  <model>.logits.safetensors   "input" [4, 3, 32, 32] and the eval-mode "logits" [4, 10]
  <model>.set           the `--set` overrides netc needs for the same widths, one a line
  googlenet.map.json    the --map that pins what shapes cannot decide in googlenet.safetensors

Dtypes and layouts vary so that the reader's conversions are exercised: ResNet's .pt holds a
transposed (strided) linear weight and BN statistics that are views into one shared storage;
PreActResNet's .pt is float64; GoogleNet (which has no width knobs, so it is the largest) is
stored as float16 (.safetensors, .pt) and bfloat16 (.ckpt), its weights rounded to values
exact in both, so every file holds the same numbers and one set of logits serves them all.

Usage: python3 tools/make_import_fixtures.py [--netc target/debug/netc]
Requires: torch, safetensors.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import DenseNet, GoogleNet, PreActResNetBlock, ResNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {
    # fixture: (model file stem, netc --set overrides, PyTorch constructor)
    "resnet": ("resnet", ["c_hidden=[8,16,32]", "num_blocks=[1,1,1]"],
               lambda: ResNet(num_blocks=(1, 1, 1), c_hidden=(8, 16, 32))),
    "preact_resnet": ("preact_resnet", ["c_hidden=[8,16,32]", "num_blocks=[1,1,1]"],
                      lambda: ResNet(num_blocks=(1, 1, 1), c_hidden=(8, 16, 32), block_class=PreActResNetBlock)),
    "densenet": ("densenet", ["num_layers=[2,2]", "growth_rate=8"],
                 lambda: DenseNet(num_layers=(2, 2), growth_rate=8)),
    "googlenet": ("googlenet", [], lambda: GoogleNet()),
}


def exact_in_half_and_bf16(t):
    """Round to values that float16 and bfloat16 both hold exactly."""
    for _ in range(4):
        t = t.to(torch.bfloat16).float().to(torch.float16).float()
    assert torch.equal(t, t.to(torch.bfloat16).float()) and torch.equal(t, t.to(torch.float16).float())
    return t


def netc_params(netc, stem, overrides):
    """(name, shape) of every parameter and buffer, in netc's graph order."""
    sets = [a for o in overrides for a in ("--set", o)]
    ir = subprocess.run([netc, "compile", os.path.join(ROOT, "models", f"{stem}.net"), "--emit", "ir", *sets],
                        check=True, capture_output=True, text=True).stdout
    return [(m.group(1), [int(d) for d in m.group(2).split(",")])
            for m in re.finditer(r'param "([^"]+)" : \[([0-9,]+)\]', ir)]


def lightning_ckpt(model, sd):
    """The layout of a Lightning checkpoint (no Lightning needed): prefixed keys, extras."""
    # Momentum for the first two parameters only: the layout of a real optimizer state at a
    # fraction of its size.
    opt = torch.optim.SGD(list(model.parameters())[:2], lr=0.1, momentum=0.9)
    model.train()
    opt.zero_grad()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()  # optimizer state with momentum tensors, as a real checkpoint has
    return {
        "epoch": 3,
        "global_step": 1170,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in sd.items()},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_acc'}": {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [],
        "hyper_parameters": {"lr": 0.1, "c_hidden": [8, 16, 32], "act": "relu"},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--netc", default=os.path.join(ROOT, "target", "debug", "netc"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "import"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for fixture, (stem, overrides, build) in MODELS.items():
        torch.manual_seed(7)
        model = build()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.num_batches_tracked.fill_(1170)
            if fixture == "googlenet":
                for t in list(model.parameters()) + [b for n, b in model.named_buffers() if "running" in n]:
                    t.copy_(exact_in_half_and_bf16(t))
        model.eval()
        x = torch.randn(4, 3, 32, 32)
        with torch.no_grad():
            logits = model(x)
        save_file({"input": x.contiguous(), "logits": logits.contiguous()},
                  os.path.join(args.out, f"{fixture}.logits.safetensors"))
        with open(os.path.join(args.out, f"{fixture}.set"), "w") as f:
            f.write("".join(o + "\n" for o in overrides))

        sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        names = netc_params(args.netc, stem, overrides)
        plain = [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]
        assert [list(v.shape) for _, v in plain] == [s for _, s in names], f"{stem}: netc and PyTorch differ"

        float_dtype = {"googlenet": torch.float16}.get(fixture, torch.float32)
        sf = {k: (v.to(float_dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
        save_file(sf, os.path.join(args.out, f"{fixture}.safetensors"))

        pt = {k: (v.to({"googlenet": torch.float16, "preact_resnet": torch.float64}.get(fixture, torch.float32))
                  if v.is_floating_point() else v) for k, v in sd.items()}
        pt = type(model.state_dict())(pt)  # an OrderedDict, as state_dict() returns
        if fixture == "resnet":
            # A strided view (the transpose of a contiguous tensor) and views into one storage.
            w = pt["output_net.2.weight"]
            pt["output_net.2.weight"] = w.t().contiguous().t()
            bn = "input_net.1"
            both = torch.cat([pt[f"{bn}.running_mean"], pt[f"{bn}.running_var"]])
            c = pt[f"{bn}.running_mean"].numel()
            pt[f"{bn}.running_mean"], pt[f"{bn}.running_var"] = both[:c], both[c:]
            assert not pt["output_net.2.weight"].is_contiguous()
        torch.save(pt, os.path.join(args.out, f"{fixture}.pt"))

        ck_dtype = {"googlenet": torch.bfloat16}.get(fixture, torch.float32)
        ck_sd = {k: (v.to(ck_dtype) if v.is_floating_point() else v) for k, v in sd.items()}
        torch.save(lightning_ckpt(copy.deepcopy(model), ck_sd), os.path.join(args.out, f"{fixture}.ckpt"))

        if fixture == "googlenet":
            # Shapes cannot tell the 1x1 branch from the pool branch where both have one width.
            mapping = {theirs: ours for (ours, _), (theirs, _) in zip(names, plain)}
            pins = {}
            for i, block in enumerate(model.inception_blocks):
                if hasattr(block, "conv_1x1") and block.conv_1x1[0].out_channels == block.max_pool[1].out_channels:
                    for j in (0, 1):
                        theirs = f"inception_blocks.{i}.conv_1x1.{j}"
                        pins[theirs] = mapping[f"{theirs}.weight"].rsplit(".", 1)[0]
            with open(os.path.join(args.out, "googlenet.map.json"), "w") as f:
                json.dump(pins, f, indent=2)
                f.write("\n")
        sizes = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out) if f.startswith(fixture + "."))
        print(f"{fixture}: {len(names)} tensors, {sizes / 1e6:.2f} MB of fixtures")


if __name__ == "__main__":
    main()
