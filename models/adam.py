"""Minibatch Adam with early stopping, for the small numpy networks trained offline.

Both the autoencoder (:mod:`models.reconstruction`) and the RUL networks
(:mod:`models.rul_net`) are lists of ``(W, b)`` layers with a hand-written backward pass;
this is the one loop that trains them: shuffle the rows each epoch, take Adam steps on
minibatches, and keep the weights of the epoch with the best validation loss, stopping
after ``patience`` epochs without a gain of at least ``min_gain``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Layers", "fit_adam"]

Layers = list[tuple[NDArray[np.float64], NDArray[np.float64]]]
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def fit_adam(
    layers: Layers,
    rows: int,
    gradients: Callable[[NDArray[np.int64]], list[tuple[NDArray[np.float64], NDArray[np.float64]]]],
    val_loss: Callable[[], float],
    rng: np.random.Generator,
    *,
    epochs: int,
    batch: int,
    lr: float,
    patience: int,
    min_gain: float,
    progress: Callable[[int, float], None] | None = None,
) -> Layers:
    """Train ``layers`` in place; return a copy of the best epoch's weights.

    ``gradients(idx)`` gives each layer's ``(dW, db)`` on the rows ``idx``; ``val_loss()``
    scores the current weights.
    """
    first = [[np.zeros_like(p) for p in layer] for layer in layers]
    second = [[np.zeros_like(p) for p in layer] for layer in layers]
    best, best_loss, waited, step = [(W.copy(), b.copy()) for W, b in layers], np.inf, 0, 0
    for epoch in range(epochs):
        order = rng.permutation(rows)
        for start in range(0, rows, batch):
            step += 1
            for i, grads in enumerate(gradients(order[start : start + batch])):
                for j, g in enumerate(grads):
                    first[i][j] = BETA1 * first[i][j] + (1 - BETA1) * g
                    second[i][j] = BETA2 * second[i][j] + (1 - BETA2) * g * g
                    m_hat = first[i][j] / (1 - BETA1**step)
                    v_hat = second[i][j] / (1 - BETA2**step)
                    layers[i][j][...] -= lr * m_hat / (np.sqrt(v_hat) + EPS)
        loss = val_loss()
        if progress is not None:
            progress(epoch, loss)
        if loss < best_loss - min_gain:
            best, best_loss, waited = [(W.copy(), b.copy()) for W, b in layers], loss, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return best
