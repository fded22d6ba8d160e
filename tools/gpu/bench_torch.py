#!/usr/bin/env python3
"""Benchmark and check a TorchScript YOLO detector (made by onnx_to_torch.py) on a CUDA GPU.

Probe for issue 13. For one model:
  1. accuracy: bus.jpg / zidane.jpg pre-processed by the rules of src/infer (make_letterbox,
     YoloFamily channel order and scale), run in FP32 and FP16, decoded (decode_yolov8 /
     decode_yolox rules), class-wise greedy NMS (score >= 0.25, IoU > 0.45 suppressed), compared
     with MANIFEST.md's reference detections: every reference box needs a detection of the same
     class with IoU >= 0.9.
  2. speed: FP32 batch 1 (baseline), then FP16 batches (default 1,4,16,64) of the model's input
     size; warm-up, then per-iteration latency with torch.cuda.Event (p50, max) and images/s.
     The forward pass only: the input tensor is already on the GPU, no pre/post-processing.
     --cuda-graph adds the same cases replayed from a captured CUDA graph.

Usage:
    bench_torch.py --kind yolov8|yolox --ts MODEL.pt --images DIR [--batches 1,4,16,64]
                   [--iters 50] [--warmup 10] [--cuda-graph] [--json OUT.json]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

# MANIFEST.md, "Verification" (OpenCV 4.6 CPU): class, score, [x1,y1,x2,y2] in source pixels.
REFERENCE = {
    ("yolov8", "bus.jpg"): [("person", 0.923, [672, 374, 807, 876]), ("person", 0.912, [51, 400, 242, 904]),
                            ("person", 0.909, [224, 408, 341, 856]), ("bus", 0.864, [32, 230, 798, 770]),
                            ("person", 0.399, [1, 552, 57, 868])],
    ("yolov8", "zidane.jpg"): [("person", 0.895, [148, 199, 1101, 712]), ("person", 0.849, [751, 41, 1146, 707]),
                               ("tie", 0.570, [437, 439, 521, 713])],
    ("yolox", "bus.jpg"): [("bus", 0.903, [14, 231, 801, 733]), ("person", 0.858, [50, 395, 216, 898]),
                           ("person", 0.808, [220, 402, 347, 855]), ("person", 0.696, [685, 454, 810, 874])],
    ("yolox", "zidane.jpg"): [("person", 0.875, [151, 201, 680, 713]), ("person", 0.826, [688, 37, 1150, 707]),
                              ("tie", 0.491, [432, 438, 499, 692])],
}
CLASSES = {0: "person", 5: "bus", 27: "tie"}  # the ones the references use; others print as ids
FAMILY = {  # input size, centre letterbox, RGB, scale: as YoloFamily in src/infer
    "yolov8": dict(size=640, center=True, rgb=True, scale=1.0 / 255.0),
    "yolox": dict(size=416, center=False, rgb=False, scale=1.0),
}


def letterbox(src_w, src_h, dst, center):
    """make_letterbox() of src/infer/postprocess.cc."""
    r = min(dst / src_w, dst / src_h)
    if center:
        rw = min(max(int(np.floor(src_w * r + 0.5)), 1), dst)
        rh = min(max(int(np.floor(src_h * r + 0.5)), 1), dst)
        dw, dh = (dst - rw) / 2.0, (dst - rh) / 2.0
        left, top = int(np.floor(dw - 0.1 + 0.5)), int(np.floor(dh - 0.1 + 0.5))
    else:
        rw, rh = min(max(int(src_w * r), 1), dst), min(max(int(src_h * r), 1), dst)
        left = top = 0
    return r, rw, rh, left, top


def preprocess(path, fam):
    import cv2
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: cannot read image {path}")
    h, w = bgr.shape[:2]
    size = fam["size"]
    r, rw, rh, left, top = letterbox(w, h, size, fam["center"])
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[top:top + rh, left:left + rw] = cv2.resize(bgr, (rw, rh), interpolation=cv2.INTER_LINEAR) \
        if (rw, rh) != (w, h) else bgr
    img = canvas[:, :, ::-1] if fam["rgb"] else canvas
    blob = np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32) * fam["scale"]
    return blob[None], (r, left, top, w, h)


def decode(kind, out, size, thr=0.25):
    """decode_yolov8 / decode_yolox of src/infer/postprocess.cc, one image: -> (boxes, scores, classes)."""
    out = out.astype(np.float32)
    if kind == "yolov8":  # [84, N]: cx, cy, w, h, 80 class scores
        p = out.T
        cls = p[:, 4:].argmax(1)
        score = p[np.arange(len(p)), 4 + cls]
        cx, cy, bw, bh = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    else:  # [N, 85]: not decoded; strides 8, 16, 32 grids row-major
        gx, gy, st = [], [], []
        for s in (8, 16, 32):
            n = size // s
            yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            gx.append(xx.ravel()); gy.append(yy.ravel()); st.append(np.full(n * n, s))
        gx, gy, st = np.concatenate(gx), np.concatenate(gy), np.concatenate(st).astype(np.float32)
        p = out
        cx, cy = (p[:, 0] + gx) * st, (p[:, 1] + gy) * st
        bw, bh = np.exp(p[:, 2]) * st, np.exp(p[:, 3]) * st
        cls_scores = p[:, 4:5] * p[:, 5:]
        cls = cls_scores.argmax(1)
        score = cls_scores[np.arange(len(p)), cls]
    keep = score >= thr
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)[keep]
    return boxes, score[keep], cls[keep]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_per_class(boxes, scores, classes, iou_thr=0.45, max_det=300):
    """Class-wise greedy NMS (nms_per_class of src/infer/postprocess.cc)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], classes[i], i))
    kept = []
    for i in order:
        if all(classes[k] != classes[i] or iou(boxes[k], boxes[i]) <= iou_thr for k in kept):
            kept.append(i)
            if len(kept) == max_det:
                break
    return kept


def detect(kind, module, blob, geom, dtype, size):
    r, left, top, w, h = geom
    x = torch.from_numpy(blob).cuda().to(dtype)
    with torch.no_grad():
        out = module(x)[0].float().cpu().numpy()
    boxes, scores, classes = decode(kind, out, size)
    dets = []
    for i in nms_per_class(boxes, scores, classes):
        b = boxes[i]
        src = [float(np.clip((b[0] - left) / r, 0, w)), float(np.clip((b[1] - top) / r, 0, h)),
               float(np.clip((b[2] - left) / r, 0, w)), float(np.clip((b[3] - top) / r, 0, h))]
        dets.append((CLASSES.get(int(classes[i]), str(int(classes[i]))), float(scores[i]), src))
    return dets


def compare(dets, ref):
    """Every reference box needs a same-class detection with IoU >= 0.9 (each detection used once)."""
    used, rows, ok = set(), [], True
    for cname, rscore, rbox in ref:
        best, best_j = 0.0, -1
        for j, (dc, ds, db) in enumerate(dets):
            if dc == cname and j not in used:
                v = iou(rbox, db)
                if v > best:
                    best, best_j = v, j
        good = best >= 0.9
        ok &= good
        if best_j >= 0:
            used.add(best_j)
        rows.append(dict(cls=cname, ref_score=rscore, ref_box=rbox, iou=round(best, 4),
                         score=round(dets[best_j][1], 4) if best_j >= 0 else None, ok=good))
    extra = [d for j, d in enumerate(dets) if j not in used]
    return ok, rows, extra


def time_batches(module, shape, dtype, batch, iters, warmup, graph=False):
    """Per-iteration latency of module(x); graph=True captures one forward pass in a CUDA graph
    (static input) and times its replay, which removes the per-kernel launch cost."""
    x = torch.rand((batch,) + shape, device="cuda").to(dtype)
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                module(x)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        step = lambda: module(x)  # noqa: E731
        if graph:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                module(x)
            torch.cuda.synchronize()
            step = g.replay
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        t0 = time.perf_counter()
        for s, e in ev:
            s.record()
            step()
            e.record()
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    ms = np.array([s.elapsed_time(e) for s, e in ev])
    return dict(batch=batch, dtype=str(dtype).replace("torch.", ""), graph=graph, iters=iters,
                p50_ms=float(np.median(ms)),
                max_ms=float(ms.max()), min_ms=float(ms.min()),
                img_per_s_p50=float(batch * 1000.0 / np.median(ms)), img_per_s_wall=float(batch * iters / wall))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", required=True, choices=sorted(FAMILY))
    ap.add_argument("--ts", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--batches", default="1,4,16,64")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cuda-graph", action="store_true", help="also time CUDA-graph replay of each case")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (skipped)")
        return 0
    torch.backends.cudnn.benchmark = True
    fam = FAMILY[args.kind]
    size = fam["size"]
    print(f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}")
    t0 = time.perf_counter()
    m32 = torch.jit.load(args.ts, map_location="cuda").eval()
    print(f"loaded {args.ts} in {time.perf_counter() - t0:.2f} s")
    m16 = torch.jit.load(args.ts, map_location="cuda").eval().half()
    report = dict(kind=args.kind, ts=os.path.basename(args.ts), device=torch.cuda.get_device_name(0),
                  torch=torch.__version__, accuracy=[], timing=[])
    all_ok = True
    for image in ("bus.jpg", "zidane.jpg"):
        blob, geom = preprocess(os.path.join(args.images, image), fam)
        for dtype in (torch.float32, torch.float16):
            dets = detect(args.kind, m32 if dtype == torch.float32 else m16, blob, geom, dtype, size)
            ok, rows, extra = compare(dets, REFERENCE[(args.kind, image)])
            all_ok &= ok
            tag = str(dtype).replace("torch.", "")
            print(f"{args.kind} {image} {tag}: {'MATCH' if ok else 'MISMATCH'}")
            for rrow in rows:
                print(f"   ref {rrow['cls']} {rrow['ref_score']:.3f} {rrow['ref_box']} -> score {rrow['score']} IoU {rrow['iou']}")
            for d in extra:
                print(f"   extra {d[0]} {d[1]:.3f} {[round(v) for v in d[2]]}")
            report["accuracy"].append(dict(image=image, dtype=tag, match=ok, rows=rows,
                                           extra=[dict(cls=d[0], score=d[1], box=d[2]) for d in extra]))
    shape = (3, size, size)
    runs = [(torch.float32, m32, 1, False)] + [(torch.float16, m16, int(b), False) for b in args.batches.split(",")]
    if args.cuda_graph:
        runs += [(torch.float32, m32, 1, True)] + [(torch.float16, m16, int(b), True) for b in args.batches.split(",")]
    for dtype, mod, b, graph in runs:
        t = time_batches(mod, shape, dtype, b, args.iters, args.warmup, graph)
        report["timing"].append(t)
        print(f"{args.kind} {t['dtype']}{' graph' if graph else ''} batch {b:3d}: p50 {t['p50_ms']:.3f} ms, max {t['max_ms']:.3f} ms, "
              f"{t['img_per_s_p50']:.0f} img/s (p50), {t['img_per_s_wall']:.0f} img/s (wall)")
    report["accuracy_ok"] = bool(all_ok)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print("ACCURACY OK" if all_ok else "ACCURACY MISMATCH")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
