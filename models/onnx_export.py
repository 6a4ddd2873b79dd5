"""Write a reconstruction model as one self-describing ONNX file, and prove the file is right.

The graph takes a float32 batch ``X`` (samples x features, raw units) and returns one
score per row::

    Z = (X - mean) / scale        standardise with the training statistics
    score = model(Z)              the model's own nodes (see models.reconstruction)

Missing values are the caller's business: the edge's ONNX adapter fills them with
``prognos.fill`` (the training means) before running the graph, as the Python model does.

Metadata (``prognos.*`` keys) carries everything the edge and the registry need to know
without the training code: feature names, kind, version, the sha256 of the training
matrix, the scaling and the training metrics. :func:`verify_export` runs the written file
in ONNX Runtime and compares it with the Python model on a holdout.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import NodeProto, TensorProto, helper, numpy_helper

from .reconstruction import PcaModel, Standardiser, fit_pca

__all__ = [
    "ATOL",
    "OPSET",
    "RTOL",
    "ExportError",
    "PcaModel",
    "check_agreement",
    "export_onnx",
    "fit_pca",
    "save_graph",
    "training_hash",
    "verify_export",
]

OPSET = 18
#: The stated agreement between ONNX Runtime (float32) and the numpy model (float64):
#: ``|onnx - numpy| <= ATOL + RTOL * |numpy|`` on every holdout row.
RTOL, ATOL = 1e-3, 1e-4


class ExportError(ValueError):
    """The exported file does not reproduce the model it was written from."""


class ExportableModel(Protocol):
    kind: str
    scaler: Standardiser

    def score(self, X: NDArray[np.float64]) -> NDArray[np.float64]: ...

    def onnx_nodes(self) -> tuple[list[NodeProto], list[TensorProto]]: ...


def training_hash(X: NDArray[np.float64]) -> str:
    """sha256 of the training matrix as float64, row-major: the same data, the same hash."""
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes()).hexdigest()


def export_onnx(
    model: ExportableModel,
    features: list[str],
    path: Path,
    version: str,
    train: NDArray[np.float64],
    metrics: dict[str, Any] | None = None,
    name: str = "anomaly",
) -> Path:
    d = len(features)
    body, inits = model.onnx_nodes()
    nodes = [
        helper.make_node("Sub", ["X", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["Z"]),
        *body,
    ]
    inits = [
        numpy_helper.from_array(model.scaler.mean.astype(np.float32), "mean"),
        numpy_helper.from_array(model.scaler.scale.astype(np.float32), "scale"),
        *inits,
    ]
    meta = {
        "prognos.name": name,
        "prognos.features": json.dumps(features),
        "prognos.version": version,
        "prognos.kind": model.kind,
        "prognos.train_sha256": training_hash(train),
        "prognos.train_rows": str(len(train)),
        "prognos.fill": json.dumps(model.scaler.mean.tolist()),
        "prognos.scaling": json.dumps(
            {"mean": model.scaler.mean.tolist(), "scale": model.scaler.scale.tolist()}
        ),
        "prognos.metrics": json.dumps(metrics or {}),
        "prognos.created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return save_graph(model.kind, nodes, inits, ["N", d], "score", meta, path)


def save_graph(
    kind: str,
    nodes: list[NodeProto],
    inits: list[TensorProto],
    input_shape: list[str | int],
    output: str,
    meta: dict[str, str],
    path: Path,
    *,
    input_type: int = TensorProto.FLOAT,
    ml_opset: int | None = None,
) -> Path:
    """One input ``X`` of ``input_shape`` (float32 unless ``input_type`` says otherwise), one
    float32 output of length N, checked and written. ``ml_opset``: the ``ai.onnx.ml``
    version the graph's tree operators need, if it has any."""
    graph = helper.make_graph(
        nodes,
        f"prognos_{kind.replace('-', '_')}",
        [helper.make_tensor_value_info("X", input_type, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N"])],
        inits,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if ml_opset is not None:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="prognos")
    onnx_model.ir_version = 9  # readable by every onnxruntime from 1.15 on, not just this one
    helper.set_model_props(onnx_model, meta)
    onnx.checker.check_model(onnx_model)
    path = Path(path)
    path.write_bytes(onnx_model.SerializeToString())
    return path


def check_agreement(path: Path, got: NDArray[np.float64], want: NDArray[np.float64]) -> dict[str, float]:
    """Compare ONNX Runtime's output with the Python model's; :class:`ExportError` beyond tolerance."""
    diff = np.abs(got - want)
    bad = diff > ATOL + RTOL * np.abs(want)
    report = {
        "rows": int(len(want)),
        "max_abs_diff": float(diff.max(initial=0.0)),
        "max_rel_diff": float((diff / np.maximum(np.abs(want), ATOL)).max(initial=0.0)),
        "rtol": RTOL,
        "atol": ATOL,
    }
    if bad.any():
        i = int(np.argmax(bad))
        raise ExportError(
            f"{path}: ONNX Runtime and the numpy model disagree on {int(bad.sum())} of {len(bad)} "
            f"holdout rows (row {i}: {got[i]:.6g} vs {want[i]:.6g})"
        )
    return report


def verify_export(path: Path, model: ExportableModel, holdout: NDArray[np.float64]) -> dict[str, float]:
    """Score ``holdout`` with ONNX Runtime through the edge's adapter and with the numpy model.

    Raises :class:`ExportError` when any row is outside the stated tolerance; returns the
    largest absolute and relative differences seen (they go into the model's metrics).
    """
    from .onnx_adapter import OnnxDetector

    holdout = np.asarray(holdout, dtype=np.float64)
    return check_agreement(path, OnnxDetector(Path(path)).score_many(holdout), model.score(holdout))
