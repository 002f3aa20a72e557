"""The wire format between the grader and a sandboxed process: length-prefixed JSON frames.

Values cross as JSON only (never pickle): numbers, strings, None, lists, tuples, string-keyed dicts,
tensors / NumPy arrays as dtype + shape + raw bytes, and CPU ``torch.Generator`` s as a copy of their state
(drawing from the copy does not advance the original). Anything else stays in the process that owns it and
crosses as a reference. Decoding untrusted data can therefore build nothing but these plain values.
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import struct
import sys
import time

MAX_FRAME = 256 * 2**20  # bytes: a submission that answers more than this is cut off
HEADER = struct.Struct(">Q")


class ChannelClosed(EOFError):
    """The other side closed the channel or died."""


class ChannelTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


class FrameTooLarge(ValueError):
    pass


def write_frame(fd: int, message: dict, deadline: float | None = None) -> None:
    """Send one message; with a ``deadline`` (time.monotonic()) ``fd`` must be non-blocking."""
    data = json.dumps(message).encode()
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                raise ChannelTimeout
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, missing = [], size
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise ChannelTimeout
        try:
            chunk = os.read(fd, min(missing, 2**20))
        except BlockingIOError:
            continue
        if not chunk:
            raise ChannelClosed
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, max_size: int = MAX_FRAME) -> dict:
    """One message; ``deadline`` is a time.monotonic() value (None: wait for ever)."""
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline))
    if size > max_size:
        raise FrameTooLarge(f"a message of {size:,} bytes (limit {max_size:,})")
    message = json.loads(_read_exactly(fd, size, deadline))
    if not isinstance(message, dict):
        raise ValueError("malformed message")
    return message


# ---------------------------------------------------------------------------- values
class Unencodable(TypeError):
    pass


def encode(value, reference=None):
    """A JSON-able form of ``value``; objects that are not plain data go through ``reference(value)``."""
    np, torch = sys.modules.get("numpy"), sys.modules.get("torch")  # a value can only be theirs if imported
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else {"__float__": repr(value)}
    if np is not None and isinstance(value, np.generic):
        return encode(value.item(), reference)
    if torch is not None and isinstance(value, torch.Size):
        return {"__tuple__": [int(v) for v in value]}
    if isinstance(value, list):
        return [encode(v, reference) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, reference) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode(v, reference) for k, v in value.items()}}
    if torch is not None and isinstance(value, torch.Tensor) and value.layout == torch.strided \
            and not value.is_complex():
        tensor = value.detach().cpu().contiguous()
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        return {"__tensor__": {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape),
                               "data": base64.b64encode(raw).decode()}}
    if torch is not None and isinstance(value, torch.Generator) and value.device.type == "cpu":  # a copy of its state
        return {"__generator__": encode(value.get_state())}
    if np is not None and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        array = np.ascontiguousarray(value)
        return {"__ndarray__": {"dtype": array.dtype.str, "shape": list(array.shape),
                                "data": base64.b64encode(array.tobytes()).decode()}}
    if reference is not None:
        return reference(value)
    raise Unencodable(f"cannot send a {type(value).__name__} across the sandbox (plain data and tensors only)")


def decode(value, dereference=None):
    """The inverse of :func:`encode`; ``{"__ref__": ...}`` goes through ``dereference``."""
    if isinstance(value, list):
        return [decode(v, dereference) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v, dereference) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): decode(v, dereference) for k, v in value["__dict__"].items()}
    if "__float__" in value:
        return float(value["__float__"])
    if "__tensor__" in value:
        import torch

        spec = value["__tensor__"]
        dtype = getattr(torch, str(spec["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {spec['dtype']!r}")
        shape = [int(s) for s in spec["shape"]]
        raw = base64.b64decode(spec["data"])
        if min(shape, default=1) < 0 or len(raw) != math.prod(shape) * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f"a tensor of shape {shape} and dtype {dtype} cannot hold {len(raw)} bytes")
        if not raw:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
    if "__generator__" in value:
        import torch

        state = decode(value["__generator__"])
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise ValueError("malformed generator state")
        generator = torch.Generator()
        generator.set_state(state)
        return generator
    if "__ndarray__" in value:
        import numpy as np

        spec = value["__ndarray__"]
        dtype = np.dtype(str(spec["dtype"]))
        if dtype.kind not in "biuf":
            raise ValueError(f"refused dtype {dtype}")
        return np.frombuffer(base64.b64decode(spec["data"]), dtype=dtype).reshape(spec["shape"]).copy()
    if "__ref__" in value:
        if dereference is None:
            raise ValueError("unexpected reference")
        return dereference(value)
    raise ValueError(f"malformed value with keys {sorted(value)[:5]}")
