#!/usr/bin/env python3
"""PyTorch side of netc's benchmark: the seed's four models (defined once, in
tools/make_fixtures.py), the same batch size and optimizer, float32 everywhere (TF32 off
on GPUs), eager or torch.compile. Prints one JSON object per model with the same fields
as `netc bench --json`.

Usage: python3 bench/torch_ref.py [--models resnet,...] [--batch 128] [--steps 10]
                                  [--mode infer|train] [--compile] [--device cuda|cpu]
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet,preact_resnet,googlenet,densenet")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--mode", choices=["infer", "train"], default="infer")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for stem in args.models.split(","):
        _, _, build, mode, opt_name = mf.MODELS[stem]
        torch.manual_seed(0)
        model = build().to(dev)
        t0 = time.perf_counter()
        fn = torch.compile(model) if args.compile else model
        x = torch.randn(args.batch, 3, 32, 32, device=dev)
        y = torch.randint(0, 10, (args.batch,), device=dev)
        if args.mode == "train":
            model.train()
            opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4) if opt_name == "sgd"
                   else torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4))
            loss_fn = nn.CrossEntropyLoss()

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(fn(x), y)
                loss.backward()
                opt.step()
                return loss
        else:
            model.eval()

            def step():
                with torch.no_grad():
                    return fn(x)
        step()
        sync()
        compile_ms = (time.perf_counter() - t0) * 1e3
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
        print(json.dumps({
            "model": stem, "framework": "torch.compile" if args.compile else "pytorch eager", "mode": args.mode,
            "batch": args.batch, "steps": args.steps, "median_ms": med * 1e3, "images_per_s": args.batch / med,
            "gflops": flops / med / 1e9, "compile_ms": compile_ms,
            "peak_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
            "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "torch": torch.__version__,
        }), flush=True)


if __name__ == "__main__":
    main()
