"""Checkpoints as documents, not pickles: versioned, rename-safe, and safe to load.

The agent checkpoints every device's state (pipelines, windows, incidents, consumables)
beside the outbox rows that state produced. A pickle names each class by its module path,
so moving a class breaks every checkpoint in the field, and loading one can run any code
the file names. This format names classes by a stable *kind* from :data:`KINDS` (the one
table to update when a class moves; an old kind stays as an alias), and loads only those.

A blob is ``MAGIC``, the format version, a JSON document and the raw bytes of the numpy
arrays it refers to (dtype and shape in the document, so a million-sample ring buffer is
not turned into text). An object is stored as its ``__getstate__()`` (its fields, by
default) and restored through ``__setstate__`` when the class has one, so a class that
changes its fields migrates old checkpoints there (see ``TailCalibrator.__setstate__``).

    blob = encode(state)          # bytes
    state = decode(blob)          # CheckpointError if it is not one, or names an unknown kind

River's models are the one thing stored opaquely (River has no state format of its own):
the River adapter hands over River's own pickle, tagged with River's version.
"""

from __future__ import annotations

import base64
import enum
import importlib
import json
import struct
from collections import deque
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from .errors import EdgeError

__all__ = ["FORMAT", "KINDS", "CheckpointError", "decode", "encode"]

MAGIC = b"PGCK"
FORMAT = 1

# kind -> "module:qualname". Renaming or moving a class changes its entry here, nothing else.
KINDS: dict[str, str] = {
    "device": "edge.device_state:DeviceState",
    "pipeline": "edge.pipeline:DevicePipeline",
    "alert_policy": "edge.policy:AlertPolicy",
    "trend_policy": "edge.trend:TrendPolicy",
    "transition": "edge.policy:Transition",
    "transition_kind": "edge.policy:TransitionKind",
    "severity": "edge.policy:Severity",
    "health_tracker": "edge.health:HealthTracker",
    "incidents": "edge.incidents:Incidents",
    "summary_window": "edge.summaries:SummaryWindow",
    "consumable_tracker": "edge.consumables:ConsumableTracker",
    "condition": "edge.consumables:Condition",
    "rul_tracker": "edge.rul:RulTracker",
    "deployment": "edge.deployment:Deployment",
    "status_event": "edge.deployment:StatusEvent",
    "tail_calibrator": "models.calibration:TailCalibrator",
    "degradation": "models.degradation:DegradationTracker",
    "surprise": "models.surprise:SurpriseDetector",
    "modal_surprise": "models.modal_surprise:ModalSurpriseDetector",
    "modal": "models.modal:ModalDetector",
    "mode_switch": "models.modal:_Switch",
    "robust": "models.robust:RobustDetector",
    "robust_relations": "models.robust:_Relations",
    "ensemble": "models.ensemble:EnsembleDetector",
    "onnx": "models.onnx_adapter:OnnxDetector",
    "river": "models.river_adapter:RiverDetector",
}
_BY_PATH = {path: kind for kind, path in KINDS.items()}


class CheckpointError(EdgeError):
    """A blob that is not a checkpoint this version can read; the message says why."""


def encode(obj: Any) -> bytes:
    arrays: list[np.ndarray[Any, Any]] = []
    tree = _enc(obj, arrays)
    meta = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    doc = json.dumps({"format": FORMAT, "tree": tree, "arrays": meta}, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<II", FORMAT, len(doc)), doc, *(a.tobytes() for a in arrays)])


def decode(blob: bytes) -> Any:
    if blob[:4] != MAGIC:
        raise CheckpointError("not a Prognos checkpoint (an old pickled one? the device starts afresh)")
    version, size = struct.unpack("<II", blob[4:12])
    if version != FORMAT:
        raise CheckpointError(f"checkpoint format {version}; this version reads format {FORMAT}")
    doc = json.loads(blob[12 : 12 + size])
    arrays, offset = [], 12 + size
    for meta in doc["arrays"]:
        dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        flat = np.frombuffer(blob, dtype, count=nbytes // dtype.itemsize, offset=offset)
        arrays.append(flat.reshape(shape).copy())
        offset += nbytes
    return _dec(doc["tree"], arrays)


# -- the document ------------------------------------------------------------------------
def _kind_of(cls: type) -> str:
    kind = _BY_PATH.get(f"{cls.__module__}:{cls.__qualname__}")
    if kind is None:
        name = f"{cls.__module__}.{cls.__qualname__}"
        raise CheckpointError(f"cannot checkpoint a {name}: not in edge.checkpoint.KINDS")
    return kind


def _class(kind: str) -> type:
    path = KINDS.get(kind)
    if path is None:
        raise CheckpointError(f"checkpoint names an unknown kind {kind!r}")
    module, _, name = path.partition(":")
    cls: Any = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    return cls  # type: ignore[no-any-return]


def _enc(v: Any, arrays: list[np.ndarray[Any, Any]]) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)) and not isinstance(v, enum.Enum):
        return v
    if isinstance(v, np.ndarray):
        if v.dtype.hasobject:
            raise CheckpointError("cannot checkpoint an array of Python objects")
        arrays.append(np.ascontiguousarray(v))
        return {"$a": len(arrays) - 1}
    if isinstance(v, np.generic):
        return {"$np": v.dtype.str, "v": v.item()}
    if isinstance(v, list):
        return [_enc(x, arrays) for x in v]
    if type(v) is tuple:
        return {"$t": [_enc(x, arrays) for x in v]}
    if isinstance(v, dict):
        return {"$d": [[_enc(k, arrays), _enc(x, arrays)] for k, x in v.items()]}
    if isinstance(v, deque):
        return {"$q": [_enc(x, arrays) for x in v], "maxlen": v.maxlen}
    if isinstance(v, (set, frozenset)):
        return {"$s": [_enc(x, arrays) for x in v], "frozen": isinstance(v, frozenset)}
    if isinstance(v, bytes):
        return {"$b": base64.b64encode(v).decode()}
    if isinstance(v, PurePath):
        return {"$p": str(v)}
    if isinstance(v, enum.Enum):
        return {"$e": _kind_of(type(v)), "v": v.value}
    state = v.__getstate__()
    if isinstance(state, tuple):  # (dict or None, slots): a class with __slots__
        state = {**(state[0] or {}), **state[1]}
    return {"$o": _kind_of(type(v)), "state": _enc(state, arrays)}


def _dec(v: Any, arrays: list[np.ndarray[Any, Any]]) -> Any:
    if isinstance(v, list):
        return [_dec(x, arrays) for x in v]
    if not isinstance(v, dict):
        return v
    if "$a" in v:
        return arrays[v["$a"]]
    if "$np" in v:
        return np.dtype(v["$np"]).type(v["v"])
    if "$t" in v:
        return tuple(_dec(x, arrays) for x in v["$t"])
    if "$d" in v:
        return {_hashable(_dec(k, arrays)): _dec(x, arrays) for k, x in v["$d"]}
    if "$q" in v:
        return deque((_dec(x, arrays) for x in v["$q"]), maxlen=v["maxlen"])
    if "$s" in v:
        items = [_dec(x, arrays) for x in v["$s"]]
        return frozenset(items) if v["frozen"] else set(items)
    if "$b" in v:
        return base64.b64decode(v["$b"])
    if "$p" in v:
        return Path(v["$p"])
    if "$e" in v:
        return _class(v["$e"])(v["v"])
    if "$o" in v:
        cls: Any = _class(v["$o"])
        state = _dec(v["state"], arrays)
        obj = cls.__new__(cls)
        if "__setstate__" in vars(cls) or any("__setstate__" in vars(b) for b in cls.__mro__[1:-1]):
            obj.__setstate__(state)
        else:
            for name, value in state.items():
                object.__setattr__(obj, name, value)  # also for frozen dataclasses
        return obj
    raise CheckpointError(f"checkpoint has a value this version cannot read: {sorted(v)[:3]}")


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k
