#!/usr/bin/env python3
"""Build a torch.nn.Module from an ONNX detection model, trace it, save TorchScript.

Probe for issue 13 (GPU detector backend). Needs only `onnx`, `numpy` and `torch`; checks the
traced module against onnxruntime (CPU) when that is installed, else against the untraced
module. Implements only the operators Orion's YOLO assets use (yolov8n.onnx, opset 12;
yolox_nano.onnx, opset 11):

    Conv Sigmoid Mul Add Sub Div Concat Split Slice MaxPool Resize(nearest) Reshape Transpose
    Softmax Shape Constant

Any other operator, or an attribute value outside what is implemented, is refused with an error
naming the node.

Batch: the assets are exported with a static batch of 1. Every Reshape in these models keeps
dimension 0 as the batch, so the module takes dimension 0 of the reshaped tensor for the
target's first entry (a target whose first entry is neither 1 nor 0 is refused). Traced that
way, the TorchScript accepts any batch size; `--check` verifies batch 2 against two batch-1 runs.

Usage:
    onnx_to_torch.py MODEL.onnx OUT.pt [--no-check] [--device cpu|cuda]
"""

import argparse
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

SUPPORTED = {
    "Conv", "Sigmoid", "Mul", "Add", "Sub", "Div", "Concat", "Split", "Slice", "MaxPool",
    "Resize", "Reshape", "Transpose", "Softmax", "Shape", "Constant",
}


class ConversionError(Exception):
    pass


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _decode(v):
    return v.decode() if isinstance(v, bytes) else v


class OnnxModule(torch.nn.Module):
    """Runs an ONNX graph node by node with torch ops.

    Float initializers and float Constant values are buffers (so .half()/.to(device) move them);
    integer ones stay numpy arrays and are computed on the host (shape arithmetic)."""

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        init_names = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in init_names]
        if len(inputs) != 1:
            raise ConversionError(f"expected one graph input, found {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        self.output_names = [o.name for o in graph.output]
        self._host = {}  # name -> numpy array (integer constants, Resize roi/scales)
        self._buf = {}  # name -> buffer attribute name
        # Resize's roi/scales/sizes are parameters of the op, not data: keep them on the host.
        self._host_only = {i for n in graph.node if n.op_type == "Resize" for i in n.input[1:]}
        for init in graph.initializer:
            self._add_constant(init.name, numpy_helper.to_array(init))
        self.nodes = []
        for idx, node in enumerate(graph.node):
            if node.op_type not in SUPPORTED:
                raise ConversionError(f"node {node.name or idx}: operator {node.op_type} not implemented")
            if node.domain not in ("", "ai.onnx"):
                raise ConversionError(f"node {node.name or idx}: domain {node.domain} not supported")
            attrs = _attrs(node)
            if node.op_type == "Constant":
                if "value" not in attrs:
                    raise ConversionError(f"node {node.name}: Constant without 'value'")
                self._add_constant(node.output[0], numpy_helper.to_array(attrs["value"]))
                continue
            self._validate(node, attrs)
            self.nodes.append((node.op_type, node.name, list(node.input), list(node.output), attrs))

    def _add_constant(self, name, arr):
        if arr.dtype.kind == "f" and arr.size > 0 and name not in self._host_only:
            attr = f"c{len(self._buf)}"
            self.register_buffer(attr, torch.from_numpy(np.ascontiguousarray(arr.astype(np.float32))))
            self._buf[name] = attr
        else:
            self._host[name] = arr

    @staticmethod
    def _validate(node, a):
        op = node.op_type
        where = f"node {node.name} ({op})"
        if op == "Conv":
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise ConversionError(f"{where}: auto_pad not supported")
            if len(a.get("kernel_shape", [1, 1])) != 2:
                raise ConversionError(f"{where}: only 2-D convolution is implemented")
        if op == "MaxPool":
            if a.get("storage_order", 0) != 0 or len(node.output) != 1:
                raise ConversionError(f"{where}: indices output / storage_order not supported")
        if op == "Resize":
            if _decode(a.get("mode", b"nearest")) != "nearest":
                raise ConversionError(f"{where}: only mode=nearest is implemented")
            if _decode(a.get("coordinate_transformation_mode", b"half_pixel")) != "asymmetric":
                raise ConversionError(f"{where}: only coordinate_transformation_mode=asymmetric is implemented")
            if _decode(a.get("nearest_mode", b"round_prefer_floor")) != "floor":
                raise ConversionError(f"{where}: only nearest_mode=floor is implemented")

    # -- value access -------------------------------------------------------------------------
    def _get(self, env, name):
        if name == "":
            return None
        if name in env:
            return env[name]
        if name in self._buf:
            return getattr(self, self._buf[name])
        if name in self._host:
            return self._host[name]
        raise ConversionError(f"value {name} used before it is produced")

    @staticmethod
    def _host_ints(v, what):
        if isinstance(v, torch.Tensor):
            raise ConversionError(f"{what} must be a constant, not a computed tensor")
        return [int(x) for x in np.asarray(v).reshape(-1)]

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x):
        env = {self.input_name: x}
        for op, name, ins, outs, a in self.nodes:
            args = [self._get(env, i) for i in ins]
            res = getattr(self, "_op_" + op)(name, args, a)
            if not isinstance(res, (list, tuple)):
                res = [res]
            for o, r in zip(outs, res):
                env[o] = r
        outs = [env[n] for n in self.output_names]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _op_Conv(self, name, args, a):
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        pads = a.get("pads", [0, 0, 0, 0])
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            padding = 0
        else:
            padding = (pads[0], pads[1])
        return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=padding,
                        dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))

    def _op_Sigmoid(self, name, args, a):
        return torch.sigmoid(args[0])

    @staticmethod
    def _binary(fn_np, fn_t, args):
        l, r = args
        if not isinstance(l, torch.Tensor) and not isinstance(r, torch.Tensor):
            return fn_np(l, r)
        ref = l if isinstance(l, torch.Tensor) else r
        if not isinstance(l, torch.Tensor):
            l = torch.as_tensor(l, dtype=ref.dtype, device=ref.device)
        if not isinstance(r, torch.Tensor):
            r = torch.as_tensor(r, dtype=ref.dtype, device=ref.device)
        return fn_t(l, r)

    def _op_Mul(self, name, args, a):
        return self._binary(np.multiply, torch.mul, args)

    def _op_Add(self, name, args, a):
        return self._binary(np.add, torch.add, args)

    def _op_Sub(self, name, args, a):
        return self._binary(np.subtract, torch.sub, args)

    def _op_Div(self, name, args, a):
        def int_div(l, r):
            return np.floor_divide(l, r) if np.asarray(l).dtype.kind in "iu" else np.divide(l, r)
        return self._binary(int_div, torch.div, args)

    def _op_Concat(self, name, args, a):
        axis = a["axis"]
        if all(not isinstance(v, torch.Tensor) for v in args):
            return np.concatenate([np.asarray(v) for v in args], axis=axis)
        ref = next(v for v in args if isinstance(v, torch.Tensor))
        ts = [v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=ref.dtype, device=ref.device)
              for v in args]
        return torch.cat(ts, dim=axis)

    def _op_Split(self, name, args, a):
        x = args[0]
        axis = a.get("axis", 0)
        split = a.get("split")
        if split is None and len(args) > 1 and args[1] is not None:
            split = self._host_ints(args[1], f"{name}: split")
        if split is None:
            raise ConversionError(f"node {name}: Split without explicit sizes is not implemented")
        return list(torch.split(x, list(split), dim=axis))

    def _op_Slice(self, name, args, a):
        x = args[0]
        starts = self._host_ints(args[1], f"{name}: starts")
        ends = self._host_ints(args[2], f"{name}: ends")
        nd = x.dim() if isinstance(x, torch.Tensor) else np.asarray(x).ndim
        axes = self._host_ints(args[3], f"{name}: axes") if len(args) > 3 and args[3] is not None \
            else list(range(len(starts)))
        steps = self._host_ints(args[4], f"{name}: steps") if len(args) > 4 and args[4] is not None \
            else [1] * len(starts)
        index = [slice(None)] * nd
        for s, e, ax, st in zip(starts, ends, axes, steps):
            if st <= 0:
                raise ConversionError(f"node {name}: Slice with step {st} not implemented")
            big = 2 ** 62
            index[ax % nd] = slice(s, None if e >= big else e, st)
        return x[tuple(index)]

    def _op_MaxPool(self, name, args, a):
        k = a["kernel_shape"]
        pads = a.get("pads", [0, 0, 0, 0])
        x = args[0]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=float("-inf"))
            padding = 0
        else:
            padding = (pads[0], pads[1])
        return F.max_pool2d(x, tuple(k), stride=tuple(a.get("strides", [1, 1])), padding=padding,
                            dilation=tuple(a.get("dilations", [1, 1])), ceil_mode=bool(a.get("ceil_mode", 0)))

    def _op_Resize(self, name, args, a):
        x = args[0]
        scales = args[2] if len(args) > 2 else None
        sizes = args[3] if len(args) > 3 else None
        if isinstance(scales, torch.Tensor):
            raise ConversionError(f"node {name}: computed Resize scales are not implemented")
        if scales is not None and np.asarray(scales).size > 0:
            s = [float(v) for v in np.asarray(scales).reshape(-1)]
        else:
            s = None
        if s is not None:
            if s[0] != 1 or s[1] != 1 or s[2] != int(s[2]) or s[3] != int(s[3]):
                raise ConversionError(f"node {name}: only integer spatial scales are implemented, got {s}")
            # nearest + asymmetric + floor with integer scales: out[i] = in[floor(i / s)].
            return F.interpolate(x, scale_factor=(s[2], s[3]), mode="nearest")
        if sizes is None:
            raise ConversionError(f"node {name}: Resize without scales or sizes")
        hw = self._host_ints(sizes, f"{name}: sizes")[2:]
        if hw[0] % x.shape[2] or hw[1] % x.shape[3]:
            raise ConversionError(f"node {name}: only integer upsampling is implemented")
        return F.interpolate(x, size=tuple(hw), mode="nearest")

    def _op_Reshape(self, name, args, a):
        x, shape = args
        target = self._host_ints(shape, f"{name}: shape")
        if a.get("allowzero", 0):
            raise ConversionError(f"node {name}: allowzero=1 not implemented")
        if not isinstance(x, torch.Tensor):
            return np.reshape(x, target)
        if target[0] not in (0, 1):
            raise ConversionError(f"node {name}: Reshape target {target} does not keep dimension 0 as the batch")
        dims = [x.size(0)]
        for i, d in enumerate(target[1:], start=1):
            dims.append(x.size(i) if d == 0 else d)
        return x.reshape(dims)

    def _op_Transpose(self, name, args, a):
        x = args[0]
        perm = a.get("perm")
        if perm is None:
            perm = list(reversed(range(x.dim())))
        return x.permute(*perm)

    def _op_Softmax(self, name, args, a):
        return torch.softmax(args[0], dim=a.get("axis", -1))

    def _op_Shape(self, name, args, a):
        x = args[0]
        return np.asarray(list(x.shape), dtype=np.int64)


def input_shape(model):
    init_names = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in init_names)
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or any(d <= 0 for d in dims[1:]):
        raise ConversionError(f"input {inp.name}: expected a static NCHW shape, got {dims}")
    return dims


def convert(onnx_path, out_path, device="cpu", check=True):
    model = onnx.load(onnx_path)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{onnx_path}: opset {[o.version for o in model.opset_import]}, {len(model.graph.node)} nodes, ops {ops}")
    n, c, h, w = input_shape(model)
    module = OnnxModule(model).eval().to(device)
    gen = torch.Generator().manual_seed(0)
    # Detector-like input range: yolov8 takes 0..1, yolox 0..255; either way a random image.
    scale = 255.0 if "yolox" in onnx_path else 1.0
    example = (torch.rand(1, c, h, w, generator=gen) * scale).to(device)
    with torch.no_grad():
        t0 = time.perf_counter()
        traced = torch.jit.trace(module, example, check_trace=False)
        print(f"traced in {time.perf_counter() - t0:.2f} s")
    traced.save(out_path)
    print(f"saved {out_path}")
    if not check:
        return True
    ok = True
    with torch.no_grad():
        loaded = torch.jit.load(out_path, map_location=device)
        y = loaded(example).float().cpu().numpy()
        ref = None
        try:
            import onnxruntime as ort
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            ref = sess.run(None, {sess.get_inputs()[0].name: example.cpu().numpy()})[0]
            what = f"onnxruntime {ort.__version__} (CPU)"
        except ImportError:
            ref = module(example).float().cpu().numpy()
            what = "the untraced module (onnxruntime not installed)"
        diff = np.abs(y - ref)
        print(f"check vs {what}: shape {y.shape} vs {ref.shape}, max |diff| {diff.max():.3e}, "
              f"mean |diff| {diff.mean():.3e}, max |ref| {np.abs(ref).max():.3e}")
        tol = 1e-3 * max(1.0, float(np.abs(ref).max()))
        if y.shape != ref.shape or diff.max() > tol:
            print(f"FAIL: traced output differs from reference by more than {tol:.3e}")
            ok = False
        # Dynamic batch: batch 2 must equal two batch-1 runs.
        example2 = torch.cat([example, example.flip(-1)], 0)
        y2 = loaded(example2).float().cpu().numpy()
        y1b = loaded(example.flip(-1).contiguous()).float().cpu().numpy()
        d2 = max(np.abs(y2[0:1] - y).max(), np.abs(y2[1:2] - y1b).max())
        print(f"check batch 2 vs two batch-1 runs: shape {y2.shape}, max |diff| {d2:.3e}")
        if y2.shape[0] != 2 or d2 > tol:
            print("FAIL: the traced module does not batch")
            ok = False
    print("CHECK OK" if ok else "CHECK FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("out")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    try:
        ok = convert(args.onnx, args.out, device=args.device, check=not args.no_check)
    except ConversionError as e:
        print(f"error: {args.onnx}: {e}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
