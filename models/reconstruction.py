"""Models of normal behaviour that score a sample by how badly they reconstruct it.

Both are fitted offline in numpy on standardised data and exported to ONNX
(:mod:`models.onnx_export`); the Python ``score`` is the reference the export is checked
against. Each model maps a standardised batch ``Z`` to a per-row score and can write that
mapping as ONNX nodes (``onnx_nodes``: from the tensor named ``Z`` to one named ``score``).

* :class:`PcaModel`: the error left after projecting onto the principal directions that
  explain most of the variance. Linear, closed-form, hard to overfit.
* :class:`Autoencoder`: a small tanh network squeezed through a bottleneck, trained with
  Adam and early stopping. It can follow curved relations between channels (a pump's
  power against its flow) that a linear projection cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from onnx import NodeProto, TensorProto, helper, numpy_helper

from .adam import fit_adam

__all__ = ["Autoencoder", "PcaModel", "Standardiser", "fit_autoencoder", "fit_pca"]

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Standardiser:
    """Per-channel centre and scale from the training data; a missing value becomes the centre."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, X: Matrix) -> Standardiser:
        mean = np.nan_to_num(np.nanmean(X, axis=0))
        scale = np.nan_to_num(np.nanstd(X, axis=0))
        return cls(mean, np.where(scale > 1e-12, scale, 1.0))

    def transform(self, X: Matrix) -> Matrix:
        return (np.where(np.isnan(X), self.mean, X) - self.mean) / self.scale


def _const(name: str, value: NDArray[np.float64]) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)


class PcaModel:
    kind = "pca-reconstruction"

    def __init__(self, scaler: Standardiser, components: Matrix) -> None:
        self.scaler = scaler
        self.components = components  # d x k, orthonormal columns

    def score_z(self, Z: Matrix) -> NDArray[np.float64]:
        R = Z - (Z @ self.components) @ self.components.T
        return np.asarray((R * R).mean(axis=1))

    def score(self, X: Matrix) -> NDArray[np.float64]:
        return self.score_z(self.scaler.transform(np.asarray(X, dtype=np.float64)))

    def onnx_nodes(self) -> tuple[list[NodeProto], list[TensorProto]]:
        nodes = [
            helper.make_node("MatMul", ["Z", "W"], ["proj"]),
            helper.make_node("MatMul", ["proj", "WT"], ["recon"]),
            helper.make_node("Sub", ["Z", "recon"], ["R"]),
            helper.make_node("Mul", ["R", "R"], ["R2"]),
            helper.make_node("ReduceMean", ["R2", "axes"], ["score"], keepdims=0),
        ]
        inits = [
            _const("W", self.components),
            _const("WT", self.components.T),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
        ]
        return nodes, inits


def fit_pca(X: Matrix, variance: float = 0.9) -> PcaModel:
    """Keep the fewest components explaining ``variance`` of the standardised data (at
    least one, and one fewer than the channels so something is left to score)."""
    X = np.asarray(X, dtype=np.float64)
    scaler = Standardiser.fit(X)
    Z = scaler.transform(X)
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    total = float(np.sum(s**2)) or 1.0
    k = int(np.searchsorted(np.cumsum(s**2) / total, variance) + 1)
    k = min(k, max(1, X.shape[1] - 1))
    return PcaModel(scaler, vt[:k].T)


class Autoencoder:
    """``Z -> tanh(Z W1 + b1) -> (. W2 + b2) -> tanh(. W3 + b3) -> (. W4 + b4)``, error = mean square."""

    kind = "autoencoder"

    def __init__(self, scaler: Standardiser, weights: list[tuple[Matrix, Matrix]]) -> None:
        self.scaler = scaler
        self.weights = weights  # [(W, b)] for the four layers

    @staticmethod
    def forward(Z: Matrix, weights: list[tuple[Matrix, Matrix]]) -> list[Matrix]:
        """Activations of every layer (the last is the reconstruction)."""
        (W1, b1), (W2, b2), (W3, b3), (W4, b4) = weights
        h1 = np.tanh(Z @ W1 + b1)
        code = h1 @ W2 + b2
        h3 = np.tanh(code @ W3 + b3)
        return [h1, code, h3, h3 @ W4 + b4]

    def score_z(self, Z: Matrix) -> NDArray[np.float64]:
        R = Z - self.forward(Z, self.weights)[-1]
        return np.asarray((R * R).mean(axis=1))

    def score(self, X: Matrix) -> NDArray[np.float64]:
        return self.score_z(self.scaler.transform(np.asarray(X, dtype=np.float64)))

    def onnx_nodes(self) -> tuple[list[NodeProto], list[TensorProto]]:
        (W1, b1), (W2, b2), (W3, b3), (W4, b4) = self.weights
        nodes = [
            helper.make_node("Gemm", ["Z", "W1", "b1"], ["a1"]),
            helper.make_node("Tanh", ["a1"], ["h1"]),
            helper.make_node("Gemm", ["h1", "W2", "b2"], ["code"]),
            helper.make_node("Gemm", ["code", "W3", "b3"], ["a3"]),
            helper.make_node("Tanh", ["a3"], ["h3"]),
            helper.make_node("Gemm", ["h3", "W4", "b4"], ["recon"]),
            helper.make_node("Sub", ["Z", "recon"], ["R"]),
            helper.make_node("Mul", ["R", "R"], ["R2"]),
            helper.make_node("ReduceMean", ["R2", "axes"], ["score"], keepdims=0),
        ]
        inits = [
            _const(f"{kind}{i}", v)
            for i, (W, b) in enumerate(self.weights, 1)
            for kind, v in (("W", W), ("b", b))
        ]
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"))
        return nodes, inits


def fit_autoencoder(
    X: Matrix,
    *,
    code: int | None = None,
    hidden: int | None = None,
    epochs: int = 300,
    batch: int = 128,
    lr: float = 3e-3,
    patience: int = 20,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> Autoencoder:
    """Train with Adam on mean squared reconstruction error; keep the weights that did best on
    a 15 % validation slice and stop after ``patience`` epochs without improvement.

    The bottleneck defaults to the PCA component count for 90 % variance, so both
    candidates compress equally and differ only in what shapes they can follow.
    """
    X = np.asarray(X, dtype=np.float64)
    scaler = Standardiser.fit(X)
    Z = scaler.transform(X)
    d = Z.shape[1]
    k = code or fit_pca(X).components.shape[1]
    h = hidden or max(8, 2 * d)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(Z))
    n_val = max(1, len(Z) * 15 // 100) if len(Z) >= 20 else 0
    val, train = Z[order[:n_val]], Z[order[n_val:]]
    sizes = [(d, h), (h, k), (k, h), (h, d)]
    weights = [(rng.normal(0, np.sqrt(1.0 / a), (a, b)), np.zeros(b)) for a, b in sizes]
    check = val if n_val else train

    def val_loss() -> float:
        return float(np.mean((check - Autoencoder.forward(check, weights)[-1]) ** 2))

    best = fit_adam(
        weights,
        len(train),
        lambda idx: _gradients(train[idx], weights),
        val_loss,
        rng,
        epochs=epochs,
        batch=batch,
        lr=lr,
        patience=patience,
        min_gain=1e-6,
        progress=progress,
    )
    return Autoencoder(scaler, best)


def _gradients(Z: Matrix, weights: list[tuple[Matrix, Matrix]]) -> list[tuple[Matrix, Matrix]]:
    """Backpropagation of the mean squared reconstruction error through the four layers."""
    (W1, _), (W2, _), (W3, _), (W4, _) = weights
    h1, code, h3, out = Autoencoder.forward(Z, weights)
    g_out = 2.0 * (out - Z) / Z.size
    gW4, gb4 = h3.T @ g_out, g_out.sum(axis=0)
    g_a3 = (g_out @ W4.T) * (1 - h3 * h3)
    gW3, gb3 = code.T @ g_a3, g_a3.sum(axis=0)
    g_code = g_a3 @ W3.T
    gW2, gb2 = h1.T @ g_code, g_code.sum(axis=0)
    g_a1 = (g_code @ W2.T) * (1 - h1 * h1)
    gW1, gb1 = Z.T @ g_a1, g_a1.sum(axis=0)
    return [(gW1, gb1), (gW2, gb2), (gW3, gb3), (gW4, gb4)]
