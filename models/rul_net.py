"""A small regression network for remaining useful life, trained in numpy, exported as ONNX.

Each member is ``flatten(window) -> 64 ReLU -> 32 ReLU -> 1``, trained with Adam on mean
squared error with early stopping on held-back units; the model averages a few members
started from different seeds, which steadies the error more than any one network's
tuning does. Predictions are clipped to ``[0, cap]``.

The ONNX graph takes ``N x window x sensors`` (already standardised, see
:mod:`models.cmapss`) and returns ``N`` predictions in cycles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from onnx import NodeProto, TensorProto, helper, numpy_helper

from .adam import Layers, fit_adam

__all__ = ["RulNet", "fit_rul_net"]

HIDDEN = (64, 32)


class RulNet:
    kind = "rul-mlp"

    def __init__(self, members: list[Layers], cap: float) -> None:
        self.members = members
        self.cap = cap

    @staticmethod
    def forward(X: NDArray[np.float64], layers: Layers) -> list[NDArray[np.float64]]:
        acts = [X]
        for i, (W, b) in enumerate(layers):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0.0) if i < len(layers) - 1 else z[:, 0])
        return acts

    def predict(self, windows: NDArray[np.float64]) -> NDArray[np.float64]:
        X = windows.reshape(len(windows), -1)
        mean = np.mean([self.forward(X, layers)[-1] for layers in self.members], axis=0)
        return np.asarray(np.clip(mean, 0.0, self.cap), dtype=np.float64)

    def onnx_nodes(self) -> tuple[list[NodeProto], list[TensorProto]]:
        """From ``X`` (N x window x sensors) to ``rul`` (N)."""
        nodes = [helper.make_node("Flatten", ["X"], ["flat"], axis=1)]
        inits: list[TensorProto] = []
        outs = []
        for m, layers in enumerate(self.members):
            h = "flat"
            for i, (W, b) in enumerate(layers):
                name = f"m{m}_l{i}"
                inits += [
                    numpy_helper.from_array(W.astype(np.float32), f"{name}_W"),
                    numpy_helper.from_array(b.astype(np.float32), f"{name}_b"),
                ]
                nodes.append(helper.make_node("Gemm", [h, f"{name}_W", f"{name}_b"], [f"{name}_z"]))
                h = f"{name}_z"
                if i < len(layers) - 1:
                    nodes.append(helper.make_node("Relu", [h], [f"{name}_a"]))
                    h = f"{name}_a"
            outs.append(h)
        nodes.append(helper.make_node("Sum", outs, ["total"]))
        inits += [
            numpy_helper.from_array(np.array(1.0 / len(outs), dtype=np.float32), "inv_members"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
            numpy_helper.from_array(np.array(self.cap, dtype=np.float32), "cap"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat_shape"),
        ]
        nodes += [
            helper.make_node("Mul", ["total", "inv_members"], ["mean"]),
            helper.make_node("Clip", ["mean", "zero", "cap"], ["clipped"]),
            helper.make_node("Reshape", ["clipped", "flat_shape"], ["rul"]),
        ]
        return nodes, inits


def fit_rul_net(
    train: tuple[NDArray[np.float64], NDArray[np.float64]],
    val: tuple[NDArray[np.float64], NDArray[np.float64]],
    *,
    cap: float,
    members: int = 3,
    epochs: int = 60,
    batch: int = 256,
    lr: float = 1e-3,
    patience: int = 8,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> RulNet:
    """Train ``members`` networks on (windows, targets); each keeps its best epoch on ``val``."""
    X, y = train[0].reshape(len(train[0]), -1), train[1]
    Xv, yv = val[0].reshape(len(val[0]), -1), val[1]
    nets = []
    for m in range(members):
        rng = np.random.default_rng(seed * 100 + m)
        sizes = [X.shape[1], *HIDDEN, 1]
        layers = [
            (rng.normal(0, np.sqrt(2.0 / a), (a, b)), np.zeros(b))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        layers[-1][1][:] = y.mean()  # start from the average life: fewer epochs spent getting there

        def val_loss(layers: Layers = layers) -> float:
            pred = np.clip(RulNet.forward(Xv, layers)[-1], 0.0, cap)
            return float(np.sqrt(np.mean((pred - yv) ** 2)))

        def report(epoch: int, loss: float, m: int = m) -> None:
            if progress is not None:
                progress(f"network {m + 1}/{members}, epoch {epoch + 1}: validation RMSE {loss:.2f}")

        best = fit_adam(
            layers,
            len(X),
            lambda idx, layers=layers: _gradients(X[idx], y[idx], layers),  # type: ignore[misc,arg-type]
            val_loss,
            rng,
            epochs=epochs,
            batch=batch,
            lr=lr,
            patience=patience,
            min_gain=1e-3,
            progress=report,
        )
        nets.append(best)
    return RulNet(nets, cap)


def _gradients(
    X: NDArray[np.float64], y: NDArray[np.float64], layers: Layers
) -> list[tuple[NDArray[np.float64], ...]]:
    acts = RulNet.forward(X, layers)
    g = (2.0 * (acts[-1] - y) / len(y))[:, None]
    grads: list[tuple[NDArray[np.float64], ...]] = []
    for i in range(len(layers) - 1, -1, -1):
        W, _ = layers[i]
        grads.append((acts[i].T @ g, g.sum(axis=0)))
        if i:
            g = (g @ W.T) * (acts[i] > 0)
    return grads[::-1]
