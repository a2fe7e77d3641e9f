#!/usr/bin/env python3
"""PyTorch side of netc's benchmark: the seed's four models (defined once, in
tools/make_fixtures.py), the same batch size and optimizer, in the configurations a
speed-minded PyTorch user picks. Prints one JSON object per model and configuration with
the same fields as `netc bench --json`, plus "config".

Configurations (--configs, comma-separated; default fp32):
  fp32        eager, float32, TF32 off (the reference point of earlier BENCHMARKS tables)
  tf32        eager, float32 storage, TF32 tensor-core math in convs and matmuls
  bf16        eager, torch.autocast(bfloat16) + channels_last
  fp16        eager, torch.autocast(float16) + channels_last + GradScaler (Lightning's
              precision="16-mixed", the peer of `netc --precision mixed`)
  compile     torch.compile, float32, TF32 off
  compile-ro  torch.compile(mode="reduce-overhead"): CUDA graphs, float32, TF32 off

Usage: python3 bench/torch_ref.py [--models resnet,...] [--batch 128] [--steps 10]
                                  [--mode infer|train] [--configs fp32,tf32,...]
                                  [--device cuda|cpu]
(`--compile` is kept as a synonym of `--configs compile`.)
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import make_fixtures as mf  # noqa: E402

# Forward multiply-accumulates per image (reference-numbers.md; netc computes the same).
MACS = {"googlenet": 79_643_904, "resnet": 40_813_184, "preact_resnet": 40_813_184, "densenet": 72_279_856}

# config -> (TF32 on, autocast dtype or None, channels_last, torch.compile mode or None)
CONFIGS = {
    "fp32": (False, None, False, None),
    "tf32": (True, None, False, None),
    "bf16": (False, torch.bfloat16, True, None),
    "fp16": (False, torch.float16, True, None),
    "compile": (False, None, False, "default"),
    "compile-ro": (False, None, False, "reduce-overhead"),
}
FRAMEWORK = {
    "fp32": "pytorch eager", "tf32": "pytorch eager tf32", "bf16": "pytorch eager bf16 autocast",
    "fp16": "pytorch eager fp16 autocast", "compile": "torch.compile",
    "compile-ro": "torch.compile reduce-overhead",
}


def measure(stem, config, args, dev):
    tf32, amp, channels_last, compile_mode = CONFIGS[config]
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    _, _, build, _, opt_name = mf.MODELS[stem]
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build().to(dev, memory_format=fmt)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    t0 = time.perf_counter()
    fn = torch.compile(model, mode=compile_mode) if compile_mode else model
    x = torch.randn(args.batch, 3, 32, 32, device=dev).to(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    autocast = (lambda: torch.autocast(dev.type, dtype=amp)) if amp else contextlib.nullcontext
    if args.mode == "train":
        model.train()
        opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4) if opt_name == "sgd"
               else torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4))
        loss_fn = nn.CrossEntropyLoss()
        scaler = torch.amp.GradScaler(dev.type) if amp == torch.float16 else None

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(fn(x), y)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            return loss
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast():
                return fn(x)
    step()
    sync()
    compile_ms = (time.perf_counter() - t0) * 1e3
    # CUDA graphs (reduce-overhead) record on the first calls after compiling.
    for _ in range(3 if compile_mode == "reduce-overhead" else 1):
        step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    flops = 2 * MACS[stem] * args.batch * (3 if args.mode == "train" else 1)
    return {
        "model": stem, "framework": FRAMEWORK[config], "config": config, "mode": args.mode,
        "batch": args.batch, "steps": args.steps, "median_ms": med * 1e3, "images_per_s": args.batch / med,
        "gflops": flops / med / 1e9, "compile_ms": compile_ms,
        "peak_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "torch": torch.__version__,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet,preact_resnet,googlenet,densenet")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--mode", choices=["infer", "train"], default="infer")
    ap.add_argument("--configs", default="fp32", help="comma-separated: " + ", ".join(CONFIGS))
    ap.add_argument("--compile", action="store_true", help="same as --configs compile")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    configs = ["compile"] if args.compile else args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    dev = torch.device(args.device)
    for stem in args.models.split(","):
        for config in configs:
            print(json.dumps(measure(stem, config, args, dev)), flush=True)


if __name__ == "__main__":
    main()
