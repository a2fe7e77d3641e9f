#!/usr/bin/env python3
"""Write PyTorch parity fixtures for netc's tests (not run by CI).

Builds the seed's four models exactly as the tutorial's PyTorch code does, maps
their state_dict onto netc's parameter names (taken from `netc compile --emit ir`,
matched in order and checked shape by shape), and writes one safetensors file per
model to tests/fixtures/<model>.safetensors holding:

  param:<name>        initial parameters and BN buffers (BN statistics randomised so
                      that eval-mode batch norm is really exercised)
  input               a batch of 4 synthetic images, [4, 3, 32, 32]
  logits              the model's eval-mode output for `input`
  train.input, train.labels       a training batch of 8 (labels as f32 class ids)
  train.loss          cross-entropy of the first training step (train-mode BN)
                      (the training entries are computed and stored in float64; the
                      input and the initial parameters are float32 values, so netc's
                      float64 reference interpreter starts from exactly the same point)
  grad:<name>         gradient of every trainable parameter at the first step
  step3:<name>        every parameter and buffer after 3 optimizer steps on that batch
                      (SGD lr 0.1 m 0.9 wd 1e-4 for the ResNets; AdamW lr 1e-3 wd 1e-4
                      for GoogleNet and DenseNet, as in the seed)
  err32:grad:<name>, err32:step3:<name>
                      PyTorch float32's own relative error against the float64 values

Usage: python3 tools/make_fixtures.py [--netc target/debug/netc]
Requires: torch, safetensors, numpy.
"""
import argparse
import copy
import os
import re
import subprocess
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- The seed's models (tutorial code, unchanged in structure) -------------------

act_fn_by_name = {"tanh": nn.Tanh, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU}


class InceptionBlock(nn.Module):
    def __init__(self, c_in, c_red, c_out, act_fn):
        super().__init__()
        self.conv_1x1 = nn.Sequential(nn.Conv2d(c_in, c_out["1x1"], kernel_size=1), nn.BatchNorm2d(c_out["1x1"]), act_fn())
        self.conv_3x3 = nn.Sequential(
            nn.Conv2d(c_in, c_red["3x3"], kernel_size=1), nn.BatchNorm2d(c_red["3x3"]), act_fn(),
            nn.Conv2d(c_red["3x3"], c_out["3x3"], kernel_size=3, padding=1), nn.BatchNorm2d(c_out["3x3"]), act_fn())
        self.conv_5x5 = nn.Sequential(
            nn.Conv2d(c_in, c_red["5x5"], kernel_size=1), nn.BatchNorm2d(c_red["5x5"]), act_fn(),
            nn.Conv2d(c_red["5x5"], c_out["5x5"], kernel_size=5, padding=2), nn.BatchNorm2d(c_out["5x5"]), act_fn())
        self.max_pool = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, padding=1, stride=1),
            nn.Conv2d(c_in, c_out["max"], kernel_size=1), nn.BatchNorm2d(c_out["max"]), act_fn())

    def forward(self, x):
        return torch.cat([self.conv_1x1(x), self.conv_3x3(x), self.conv_5x5(x), self.max_pool(x)], dim=1)


class GoogleNet(nn.Module):
    def __init__(self, num_classes=10, act_fn_name="relu"):
        super().__init__()
        a = act_fn_by_name[act_fn_name]
        self.input_net = nn.Sequential(nn.Conv2d(3, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), a())
        r1, r2 = {"3x3": 32, "5x5": 16}, {"3x3": 48, "5x5": 16}
        self.inception_blocks = nn.Sequential(
            InceptionBlock(64, r1, {"1x1": 16, "3x3": 32, "5x5": 8, "max": 8}, a),
            InceptionBlock(64, r1, {"1x1": 24, "3x3": 48, "5x5": 12, "max": 12}, a),
            nn.MaxPool2d(3, stride=2, padding=1),
            InceptionBlock(96, r1, {"1x1": 24, "3x3": 48, "5x5": 12, "max": 12}, a),
            InceptionBlock(96, r1, {"1x1": 16, "3x3": 48, "5x5": 16, "max": 16}, a),
            InceptionBlock(96, r1, {"1x1": 16, "3x3": 48, "5x5": 16, "max": 16}, a),
            InceptionBlock(96, r1, {"1x1": 32, "3x3": 48, "5x5": 24, "max": 24}, a),
            nn.MaxPool2d(3, stride=2, padding=1),
            InceptionBlock(128, r2, {"1x1": 32, "3x3": 64, "5x5": 16, "max": 16}, a),
            InceptionBlock(128, r2, {"1x1": 32, "3x3": 64, "5x5": 16, "max": 16}, a),
        )
        self.output_net = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.output_net(self.inception_blocks(self.input_net(x)))


class ResNetBlock(nn.Module):
    def __init__(self, c_in, act_fn, subsample=False, c_out=-1):
        super().__init__()
        if not subsample:
            c_out = c_in
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=1 if not subsample else 2, bias=False),
            nn.BatchNorm2d(c_out), act_fn(),
            nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.downsample = nn.Conv2d(c_in, c_out, kernel_size=1, stride=2) if subsample else None
        self.act_fn = act_fn()

    def forward(self, x):
        z = self.net(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return self.act_fn(z + x)


class PreActResNetBlock(nn.Module):
    def __init__(self, c_in, act_fn, subsample=False, c_out=-1):
        super().__init__()
        if not subsample:
            c_out = c_in
        self.net = nn.Sequential(
            nn.BatchNorm2d(c_in), act_fn(),
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=1 if not subsample else 2, bias=False),
            nn.BatchNorm2d(c_out), act_fn(),
            nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False))
        self.downsample = nn.Sequential(
            nn.BatchNorm2d(c_in), act_fn(), nn.Conv2d(c_in, c_out, kernel_size=1, stride=2, bias=False)) if subsample else None

    def forward(self, x):
        z = self.net(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return z + x


class ResNet(nn.Module):
    def __init__(self, num_classes=10, num_blocks=(3, 3, 3), c_hidden=(16, 32, 64), act_fn_name="relu", block_class=ResNetBlock):
        super().__init__()
        a = act_fn_by_name[act_fn_name]
        if block_class is PreActResNetBlock:
            self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden[0], kernel_size=3, padding=1, bias=False))
        else:
            self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden[0], kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c_hidden[0]), a())
        blocks = []
        for block_idx, block_count in enumerate(num_blocks):
            for bc in range(block_count):
                subsample = bc == 0 and block_idx > 0
                blocks.append(block_class(c_in=c_hidden[block_idx if not subsample else block_idx - 1], act_fn=a, subsample=subsample, c_out=c_hidden[block_idx]))
        self.blocks = nn.Sequential(*blocks)
        self.output_net = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c_hidden[-1], num_classes))

    def forward(self, x):
        return self.output_net(self.blocks(self.input_net(x)))


class DenseLayer(nn.Module):
    def __init__(self, c_in, bn_size, growth_rate, act_fn):
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm2d(c_in), act_fn(), nn.Conv2d(c_in, bn_size * growth_rate, kernel_size=1, bias=False),
            nn.BatchNorm2d(bn_size * growth_rate), act_fn(),
            nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([self.net(x), x], dim=1)


class DenseBlock(nn.Module):
    def __init__(self, c_in, num_layers, bn_size, growth_rate, act_fn):
        super().__init__()
        self.block = nn.Sequential(*[DenseLayer(c_in + i * growth_rate, bn_size, growth_rate, act_fn) for i in range(num_layers)])

    def forward(self, x):
        return self.block(x)


class TransitionLayer(nn.Module):
    def __init__(self, c_in, c_out, act_fn):
        super().__init__()
        self.transition = nn.Sequential(nn.BatchNorm2d(c_in), act_fn(), nn.Conv2d(c_in, c_out, kernel_size=1, bias=False), nn.AvgPool2d(kernel_size=2, stride=2))

    def forward(self, x):
        return self.transition(x)


class DenseNet(nn.Module):
    def __init__(self, num_classes=10, num_layers=(6, 6, 6, 6), bn_size=2, growth_rate=16, act_fn_name="relu"):
        super().__init__()
        a = act_fn_by_name[act_fn_name]
        c_hidden = growth_rate * bn_size
        self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden, kernel_size=3, padding=1))
        blocks = []
        for block_idx, n in enumerate(num_layers):
            blocks.append(DenseBlock(c_hidden, n, bn_size, growth_rate, a))
            c_hidden = c_hidden + n * growth_rate
            if block_idx < len(num_layers) - 1:
                blocks.append(TransitionLayer(c_hidden, c_hidden // 2, a))
                c_hidden = c_hidden // 2
        self.blocks = nn.Sequential(*blocks)
        self.output_net = nn.Sequential(nn.BatchNorm2d(c_hidden), a(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c_hidden, num_classes))

    def forward(self, x):
        return self.output_net(self.blocks(self.input_net(x)))


def init_params(model, mode):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


MODELS = {
    # fixture name: (model file stem, netc --set overrides, constructor, kaiming mode, optimizer)
    "googlenet": ("googlenet", [], lambda: GoogleNet(), "fan_in", "adamw"),
    "resnet": ("resnet", [], lambda: ResNet(), "fan_out", "sgd"),
    "preact_resnet": ("preact_resnet", [], lambda: ResNet(block_class=PreActResNetBlock), "fan_out", "sgd"),
    "densenet": ("densenet", [], lambda: DenseNet(), "fan_in", "adamw"),
    # DenseNet with tanh: a smooth network, so training parity is not at the mercy of
    # ReLU inputs that round to the other side of zero (see tests/torch_training.rs).
    "densenet_tanh": ("densenet", ["act=tanh"], lambda: DenseNet(act_fn_name="tanh"), "fan_in", "adamw"),
}


def rel_error(ours, theirs, floor):
    """max |ours - theirs| / max(max |theirs|, floor), as a scalar tensor."""
    scale = max(theirs.abs().max().item(), floor, 1e-30)
    return torch.tensor((ours.double() - theirs.double()).abs().max().item() / scale)


def netc_params(netc, stem, overrides):
    """(name, shape) of every parameter and buffer, in netc's graph order."""
    sets = [a for o in overrides for a in ("--set", o)]
    ir = subprocess.run([netc, "compile", os.path.join(ROOT, "models", f"{stem}.net"), "--emit", "ir", *sets],
                        check=True, capture_output=True, text=True).stdout
    return [(m.group(1), [int(d) for d in m.group(2).split(",")])
            for m in re.finditer(r'param "([^"]+)" : \[([0-9,]+)\]', ir)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--netc", default=os.path.join(ROOT, "target", "debug", "netc"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for fixture, (stem, overrides, build, mode, opt_name) in MODELS.items():
        torch.manual_seed(42)
        model = build()
        init_params(model, mode)
        # Randomise BN affine parameters and statistics so both modes are really exercised.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
        sd = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
        names = netc_params(args.netc, stem, overrides)
        if len(names) != len(sd):
            sys.exit(f"{stem}: netc has {len(names)} parameters and buffers, PyTorch {len(sd)}")
        mapping = {}
        for (ours, shape), (theirs, t) in zip(names, sd):
            if list(t.shape) != shape:
                sys.exit(f"{stem}: {ours} {shape} does not match PyTorch's {theirs} {list(t.shape)}")
            mapping[theirs] = ours
        out = {f"param:{mapping[k]}": v.detach().clone().contiguous() for k, v in sd}

        # Inference fixture (float32, as netc runs it).
        model.eval()
        x = torch.randn(4, 3, 32, 32)
        with torch.no_grad():
            out["input"] = x
            out["logits"] = model(x)

        # Training fixture: 3 steps on one batch of 8, computed in float64 — the oracle —
        # and in float32. PyTorch's own float32 results stray from float64 by up to ~4e-3
        # (relative) in the first layers, where batch-norm backward cancels; the fixture
        # records that error per tensor (`err32:*`) so tests can hold netc to "at least
        # as close to exact as PyTorch float32".
        xt = torch.randn(8, 3, 32, 32).double()
        yt = torch.randint(0, 10, (8,))
        out["train.input"] = xt
        out["train.labels"] = yt.float()
        runs = {}
        for dtype in (torch.float64, torch.float32):
            m = copy.deepcopy(model).to(dtype)
            m.train()
            if opt_name == "sgd":
                opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
            else:
                opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-4)
            loss_fn = nn.CrossEntropyLoss()
            grads = {}
            for step in range(3):
                opt.zero_grad()
                loss = loss_fn(m(xt.to(dtype)), yt)
                loss.backward()
                if step == 0:
                    first_loss = loss.detach().reshape([])
                    grads = {mapping[k]: p.grad.detach().clone() for k, p in m.named_parameters()}
                opt.step()
            after = {mapping[k]: v.detach().clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
            runs[dtype] = (first_loss, grads, after)
        loss64, grads64, after64 = runs[torch.float64]
        _, grads32, after32 = runs[torch.float32]
        out["train.loss"] = loss64
        floor = 1e-4 * max(g.abs().max().item() for g in grads64.values())
        for name, g in grads64.items():
            out[f"grad:{name}"] = g
            out[f"err32:grad:{name}"] = rel_error(grads32[name], g, floor)
        for name, v in after64.items():
            out[f"step3:{name}"] = v
            out[f"err32:step3:{name}"] = rel_error(after32[name], v, 0.0)
        path = os.path.join(args.out, f"{fixture}.safetensors")
        # Inference entries and parameters stay float32 (as netc runs them); the float64
        # training results keep every digit, for the float64 reference to match.
        save_file({k: (v.double() if k.startswith(("train.", "grad:", "step3:")) else v.float()).contiguous()
                   for k, v in out.items()}, path)
        print(f"{fixture}: {len(names)} tensors mapped, wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
