"""A PCA reconstruction-error model of normal behaviour, fitted in numpy, exported to ONNX.

The exported graph computes, for a batch ``X`` (float32, samples x features)::

    Z = (X - mean) / scale            standardise with the training statistics
    R = Z - (Z @ W) @ W.T             what the k principal directions cannot explain
    score = sum(R * R, axis=1)        squared reconstruction error (high = anomalous)

Metadata on the model (``prognos.*`` keys) carries the feature names, version, and
training-data hash so the edge's ONNX adapter can check what it is given.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

__all__ = ["PcaModel", "export_onnx", "fit_pca"]

OPSET = 17


class PcaModel:
    def __init__(
        self, mean: NDArray[np.float64], scale: NDArray[np.float64], components: NDArray[np.float64]
    ) -> None:
        self.mean, self.scale, self.components = mean, scale, components  # components: d x k

    def score(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = (np.where(np.isnan(X), self.mean, X) - self.mean) / self.scale
        R = Z - (Z @ self.components) @ self.components.T
        return np.asarray((R * R).sum(axis=1))


def fit_pca(X: NDArray[np.float64], variance: float = 0.9) -> PcaModel:
    """Keep the fewest components explaining ``variance`` of the standardised data."""
    X = np.asarray(X, dtype=np.float64)
    mean = np.nanmean(X, axis=0)
    scale = np.nanstd(X, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (np.where(np.isnan(X), mean, X) - mean) / scale
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    explained = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.searchsorted(explained, variance) + 1)
    k = min(k, max(1, X.shape[1] - 1))
    return PcaModel(mean, scale, vt[:k].T)


def export_onnx(
    model: PcaModel, features: list[str], path: Path, version: str, train: NDArray[np.float64]
) -> Path:
    d = len(features)
    const = numpy_helper.from_array
    nodes = [
        helper.make_node("Sub", ["X", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["Z"]),
        helper.make_node("MatMul", ["Z", "W"], ["proj"]),
        helper.make_node("MatMul", ["proj", "WT"], ["recon"]),
        helper.make_node("Sub", ["Z", "recon"], ["R"]),
        helper.make_node("Mul", ["R", "R"], ["R2"]),
        helper.make_node("ReduceSum", ["R2", "axes"], ["score"], keepdims=0),
    ]
    inits = [
        const(model.mean.astype(np.float32), "mean"),
        const(model.scale.astype(np.float32), "scale"),
        const(model.components.astype(np.float32), "W"),
        const(model.components.T.astype(np.float32).copy(), "WT"),
        const(np.array([1], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "prognos_pca",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        inits,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="prognos"
    )
    meta = {
        "prognos.features": json.dumps(features),
        "prognos.version": version,
        "prognos.kind": "pca-reconstruction",
        "prognos.train_sha256": hashlib.sha256(
            np.ascontiguousarray(train, dtype=np.float64).tobytes()
        ).hexdigest(),
        "prognos.fill": json.dumps(model.mean.tolist()),
    }
    helper.set_model_props(onnx_model, meta)
    onnx.checker.check_model(onnx_model)
    path.write_bytes(onnx_model.SerializeToString())
    return path
