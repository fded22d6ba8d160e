#!/usr/bin/env python3
"""An Orion inference worker in Python + numpy, written from docs/design/worker_protocol.md alone.

It speaks the same protocol as `orion worker`: JSON control lines on stdin/stdout, the stream's
frame pool mapped read-only (fd 3), its own mailbox (fd 4), results as JSON datagrams (fd 5).
Frames are numpy views of the shared memory: nothing is copied.

The "model" is deliberately trivial: it reports the bounding box of the bright pixels
(grey > 200) as one detection of class "bright". Replace `detect()` with a real model.

Atomics come from libatomic (GCC's runtime, `__atomic_*_N`), the futex from syscall(2): both
through ctypes, so only the Python standard library and numpy are needed.

Run by the engine's supervisor as `python3 python_worker.py --parent-pid PID`; never by hand.
"""
import ctypes
import json
import mmap
import os
import signal
import socket
import struct
import sys
import threading
import time

import numpy as np

SEQ_CST = 5
SYS_FUTEX = 202  # x86_64
FUTEX_WAIT, FUTEX_WAKE = 0, 1
libc = ctypes.CDLL(None, use_errno=True)
libatomic = ctypes.CDLL("libatomic.so.1")
for name, res, args in [
    ("__atomic_load_8", ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_int]),
    ("__atomic_store_8", None, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]),
    ("__atomic_load_4", ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int]),
    ("__atomic_store_4", None, [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]),
    ("__atomic_fetch_add_8", ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]),
    ("__atomic_compare_exchange_8", ctypes.c_bool,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.c_int]),
]:
    fn = getattr(libatomic, name)
    fn.restype, fn.argtypes = res, args


def load64(addr): return libatomic.__atomic_load_8(addr, SEQ_CST)
def store64(addr, v): libatomic.__atomic_store_8(addr, v, SEQ_CST)
def load32(addr): return libatomic.__atomic_load_4(addr, SEQ_CST)
def store32(addr, v): libatomic.__atomic_store_4(addr, v, SEQ_CST)


def fetch_add64(addr, v): return libatomic.__atomic_fetch_add_8(addr, v, SEQ_CST)


def cas64(addr, expected, desired):
    e = ctypes.c_uint64(expected)
    return libatomic.__atomic_compare_exchange_8(addr, ctypes.byref(e), desired, SEQ_CST, SEQ_CST)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def futex_wait(addr, seen, timeout_s):
    ts = Timespec(int(timeout_s), int((timeout_s % 1) * 1e9))
    libc.syscall(SYS_FUTEX, ctypes.c_void_p(addr), FUTEX_WAIT, ctypes.c_uint32(seen), ctypes.byref(ts), None, 0)


# ---- shared-memory layout (worker_protocol.md, "Shared memory") -----------------------------
POOL_MAGIC, SLOT_MAGIC, MBOX_MAGIC = b"ORNPOOL1", b"ORNSLOT1", b"ORNMBOX1"
ABI = 1       # the shared-memory layout this worker reads; sent in "hello" (required)
PROTOCOL = 1  # the control protocol this worker speaks; sent in "hello" (required)
POOL_FMT = "<8sIIIIQQQQQQII64s"   # PoolHeader up to stream_name
SLOT_FMT = "<8sIIQIBBBBQqqii3iI3QQQQ"  # SlotHeader, 128 bytes
assert struct.calcsize(SLOT_FMT) == 128
P_WAKE = 144  # PoolHeader.wake_word: the futex readers sleep on
# MailboxBlock offsets
M_NOTIFY, M_FLAGS, M_OFFER, M_WAITING, M_PID, M_LEASE, M_TAKEN, M_LASTSEQ, M_PROGRESS = (
    64, 68, 72, 128, 132, 136, 144, 152, 160)
FORMATS = {1: ("BGR24", 3), 2: ("RGB24", 3), 3: ("GRAY8", 1)}  # packed formats handled here


class BadMemory(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Pool:
    def __init__(self, fd):
        size = os.fstat(fd).st_size
        self.map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        if size < 256:
            raise BadMemory("ipc.truncated", f"pool of {size} bytes")
        (magic, abi, header_size, slot_header_size, self.slot_count, self.table, self.payload,
         self.stride, self.capacity, seg, self.pool_id, self.stream_id, _pid, _name) = \
            struct.unpack_from(POOL_FMT, self.map, 0)
        if magic != POOL_MAGIC:
            raise BadMemory("ipc.bad_magic", f"pool magic {magic!r}")
        if abi != ABI:
            raise BadMemory("ipc.abi_mismatch", f"pool ABI {abi}")
        if header_size != 256 or slot_header_size != 128 or not 1 <= self.slot_count <= 4096:
            raise BadMemory("ipc.bad_header", "pool header sizes / slot_count")
        if seg > size or self.payload + self.slot_count * self.stride > seg or self.stride < self.capacity:
            raise BadMemory("ipc.truncated", "pool geometry beyond the mapping")
        # Address of the read-only mapping (ctypes.from_buffer needs a writable buffer; numpy
        # does not), for atomic loads of wake_word and FUTEX_WAIT on it.
        self._bytes = np.frombuffer(self.map, dtype=np.uint8)
        self.wake_addr = self._bytes.ctypes.data + P_WAKE

    def frame(self, slot, generation):
        """Validated (identity, numpy view) of a slot, or BadMemory."""
        if slot >= self.slot_count:
            raise BadMemory("ipc.bad_slot", f"slot {slot} out of range")
        h = struct.unpack_from(SLOT_FMT, self.map, self.table + slot * 128)
        (magic, abi, index, gen, stream, fmt, kind, planes, _r, seq, pts, cap, w, h_, s0, _s1, _s2, _r1,
         p0, _p1, _p2, payload_off, payload_size, _r2) = h
        if magic != SLOT_MAGIC or abi != ABI:
            raise BadMemory("ipc.bad_magic", f"slot {slot} magic/abi")
        if index != slot or gen != generation:
            raise BadMemory("ipc.stale_slot", f"slot {slot} holds generation {gen}, token says {generation}")
        if stream != self.stream_id or kind != 0 or fmt not in FORMATS or planes != 1:
            raise BadMemory("ipc.bad_slot", f"slot {slot}: stream/kind/format {stream}/{kind}/{fmt}")
        channels = FORMATS[fmt][1]
        if not (1 <= w <= 16384 and 1 <= h_ <= 16384) or s0 < w * channels:
            raise BadMemory("ipc.bad_slot", f"slot {slot}: size {w}x{h_} stride {s0}")
        if payload_off != self.payload + slot * self.stride or not 0 < payload_size <= self.capacity \
                or p0 + s0 * h_ > payload_size:
            raise BadMemory("ipc.bad_slot", f"slot {slot}: payload bounds")
        img = np.ndarray((h_, w, channels), np.uint8, buffer=self.map, offset=payload_off + p0,
                         strides=(s0, channels, 1))
        return {"stream": stream, "sequence": seq, "pts_ns": pts, "capture_ns": cap}, img


class Mailbox:
    def __init__(self, fd, pool):
        self.wake_addr = pool.wake_addr
        self.map = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._anchor = ctypes.c_char.from_buffer(self.map)
        self.base = ctypes.addressof(self._anchor)
        magic, abi, block, stream, slots, pool_id = struct.unpack_from("<8sIIIIQ", self.map, 0)
        if magic != MBOX_MAGIC or abi != ABI or block != 256:
            raise BadMemory("ipc.bad_magic", "mailbox header")
        if stream != pool.stream_id or slots != pool.slot_count or pool_id != pool.pool_id:
            raise BadMemory("ipc.bad_header", "mailbox belongs to another pool")
        store32(self.base + M_PID, os.getpid())

    def take(self, timeout_s):
        """Token of the newest frame (leased), None on timeout, or raises EOFError when closed."""
        b = self.base
        deadline = time.monotonic() + timeout_s
        while True:
            t = load64(b + M_OFFER)
            if t:
                store64(b + M_LEASE, t)             # lease first,
                if not cas64(b + M_OFFER, t, 0):    # then take
                    continue
                fetch_add64(b + M_TAKEN, 1)
                return t
            store32(b + M_WAITING, 1)
            seen = load32(self.wake_addr)
            if load64(b + M_OFFER):
                store32(b + M_WAITING, 0)
                continue
            if load32(b + M_FLAGS) & 1:
                store32(b + M_WAITING, 0)
                raise EOFError("mailbox closed")
            left = deadline - time.monotonic()
            if left <= 0:
                store32(b + M_WAITING, 0)
                return None
            futex_wait(self.wake_addr, seen, min(left, 0.1))
            store32(b + M_WAITING, 0)

    def release(self):
        store64(self.base + M_LEASE, 0)

    def progress(self, last_sequence=None):
        store64(self.base + M_PROGRESS, time.monotonic_ns())
        if last_sequence is not None:
            store64(self.base + M_LASTSEQ, last_sequence)


def detect(img, min_score):
    grey = img.mean(axis=2) if img.shape[2] == 3 else img[:, :, 0]
    ys, xs = np.nonzero(grey > 200)
    if len(xs) == 0:
        return []
    score = float(min(1.0, 0.5 + len(xs) / grey.size))
    if score < min_score:
        return []
    return [{"class_id": 0, "class": "bright", "score": score,
             "box": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]}]


class Worker:
    def __init__(self):
        self.out_lock = threading.Lock()
        self.stop = threading.Event()
        self.state = "unconfigured"
        self.frames = self.errors = self.sent = self.unsent = 0
        self.busy_since = 0

    def emit(self, obj):
        line = json.dumps(obj) + "\n"
        with self.out_lock:
            os.write(1, line.encode())

    def fatal(self, code, message):
        self.emit({"type": "error", "code": code, "message": message, "fatal": True})
        os._exit(3)

    def counters(self):
        busy = -1 if not self.busy_since else (time.monotonic_ns() - self.busy_since) // 1_000_000
        return {"state": self.state, "frames": self.frames, "errors": self.errors,
                "results_sent": self.sent, "results_dropped": self.unsent, "busy_ms": busy}

    def loop(self, cfg):
        try:
            self.frames_loop(cfg)
        except Exception as e:  # a bug here must end the process, so the engine restarts it
            self.fatal("worker.exception", repr(e))

    def frames_loop(self, cfg):
        try:
            pool = Pool(cfg["pool_fd"])
            mbox = Mailbox(cfg["mailbox_fd"], pool)
        except BadMemory as e:
            self.fatal(e.code, e.message)
        results = socket.socket(fileno=cfg["results_fd"])
        min_score = float(cfg.get("min_score", 0.25))
        self.emit({"type": "ready", "model": {"kind": "python-bright", "path": "", "input_width": 0,
                                               "input_height": 0, "classes": 1}})
        self.state = "running"
        last = 0
        while not self.stop.is_set():
            try:
                t = mbox.take(0.1)
            except EOFError:
                break
            mbox.progress()
            if t is None:
                continue
            try:
                ident, img = pool.frame((t & 0xFFFF) - 1, t >> 16)
                if ident["sequence"] <= last:
                    raise BadMemory("ipc.not_newer", f"frame {ident['sequence']} after {last}")
            except BadMemory as e:
                mbox.release()
                self.errors += 1
                self.emit({"type": "error", "code": e.code, "message": e.message, "fatal": False})
                continue
            last = ident["sequence"]
            t0 = time.monotonic_ns()
            self.busy_since = t0
            dets = detect(img, min_score)
            t1 = time.monotonic_ns()
            mbox.progress()  # before "not busy", so the engine never sees a stalled loop
            self.busy_since = 0
            del img
            mbox.release()  # done reading: the slot may be reused
            mbox.progress(last)
            self.frames += 1
            msg = dict(type="result", detections=dets, done_ns=t1, inference_ns=t1 - t0, **ident)
            try:
                results.send(json.dumps(msg).encode(), socket.MSG_DONTWAIT)
                self.sent += 1
            except BlockingIOError:
                self.unsent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
        self.state = "closed"

    def run(self, parent):
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        # In a PID namespace of its own the parent is outside it and getppid() reads 0: the
        # engine's death then shows as the end of stdin.
        if parent and os.getppid() not in (0, parent):
            return 1
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        # Both versions are required: the engine refuses a hello without them.
        self.emit({"type": "hello", "pid": os.getpid(), "protocol": PROTOCOL, "abi": ABI})
        thread = None
        for raw in sys.stdin:
            try:
                msg = json.loads(raw)
                kind = msg["type"]
            except (ValueError, KeyError, TypeError):
                self.emit({"type": "error", "code": "protocol.bad_json", "message": raw[:100], "fatal": False})
                continue
            if kind == "configure" and thread is None:
                version = msg.get("protocol")
                if not isinstance(version, int) or isinstance(version, bool):
                    self.fatal("protocol.missing_version", "configure has no integer 'protocol' field")
                if version != PROTOCOL:
                    self.fatal("protocol.bad_message", f"protocol version {version} is not supported")
                self.state = "loading"
                thread = threading.Thread(target=self.loop, args=(msg,), name="worker-loop", daemon=True)
                thread.start()
            elif kind == "heartbeat":
                self.emit(dict(type="heartbeat", seq=msg.get("seq", 0), **self.counters()))
            elif kind == "state":
                self.emit(dict(type="state", **self.counters()))
            elif kind == "stop":
                break
            else:
                self.emit({"type": "error", "code": "protocol.unknown_type", "message": kind, "fatal": False})
        self.stop.set()
        if thread:
            thread.join()
        self.emit({"type": "stopped"})
        return 0


if __name__ == "__main__":
    parent = 0
    if "--parent-pid" in sys.argv:
        parent = int(sys.argv[sys.argv.index("--parent-pid") + 1])
    sys.exit(Worker().run(parent))
