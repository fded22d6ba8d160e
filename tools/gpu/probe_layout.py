#!/usr/bin/env python3
"""Forward-pass throughput of a TorchScript detector (tools/gpu/onnx_to_torch.py) on CUDA, FP16,
CUDA-graph replay, in four forms measured in the same run: as traced (NCHW, the baseline),
channels_last (NHWC weights and input), frozen + optimize_for_inference, and both. Each form's
outputs are compared with the baseline's on the same input (max abs difference), so a faster
form that computes something else is visible.

Usage: probe_layout.py MODEL.pt SIZE [--batches 16,64] [--iters 100] [--warmup 10]
Skips with a message where there is no CUDA device.
"""
import argparse
import sys
import time

import torch


def load(path, channels_last, frozen):
    m = torch.jit.load(path, map_location="cuda").eval().half()
    if channels_last:  # before freezing: frozen weights are constants, no longer buffers
        m = m.to(memory_format=torch.channels_last)
    if frozen:
        m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    return m


def replay_ms(module, x, iters, warmup):
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                out = module(x)
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = module(x)
        torch.cuda.synchronize()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(iters)]
        for s, e in ev:
            s.record()
            g.replay()
            e.record()
        torch.cuda.synchronize()
    ms = sorted(s.elapsed_time(e) for s, e in ev)
    first = out[0] if isinstance(out, (tuple, list)) else out
    return ms[len(ms) // 2], first.float().clone()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("size", type=int)
    ap.add_argument("--batches", default="16,64")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (skipped)")
        return 0
    torch.backends.cudnn.benchmark = True
    forms = [("nchw (baseline)", False, False), ("channels_last", True, False),
             ("frozen+optimized", False, True), ("frozen+channels_last", True, True)]
    for b in (int(v) for v in a.batches.split(",")):
        x = torch.rand((b, 3, a.size, a.size), device="cuda").half()
        base_ms, base_out = None, None
        for name, cl, fr in forms:
            t0 = time.perf_counter()
            try:
                m = load(a.model, cl, fr)
                xi = x.contiguous(memory_format=torch.channels_last) if cl else x
                ms, out = replay_ms(m, xi, a.iters, a.warmup)
            except Exception as e:  # a form the model cannot take is reported, not fatal
                print(f"batch {b:3d} {name:22s}: FAILED {type(e).__name__}: {str(e)[:200]}")
                continue
            if base_ms is None:
                base_ms, base_out = ms, out
            diff = (out - base_out).abs().max().item() if out.shape == base_out.shape else float("nan")
            print(f"batch {b:3d} {name:22s}: p50 {ms:7.3f} ms, {b * 1000.0 / ms:7.0f} img/s, "
                  f"x{base_ms / ms:5.2f} vs baseline, max abs diff {diff:.4g} "
                  f"(prepared in {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
