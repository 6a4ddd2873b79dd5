"""Train a model of normal behaviour offline and pick the kind that separates anomalies best.

Data comes as one or more time-ordered segments (one per file or device), each a
``samples x features`` matrix with optional anomaly labels. The last ``holdout`` share of
every segment is kept back; both candidate kinds (:mod:`models.reconstruction`) are fitted
on the normal rows of the rest and judged on the holdout by ROC AUC, normal rows against
anomalous ones:

* labelled anomalies when the data has them (SKAB's ``anomaly`` column);
* otherwise synthetic ones made from holdout rows: half with one channel pushed 4 standard
  deviations off, half with one channel's value taken from another random row (every
  value plausible on its own, the relation between channels broken).

A candidate must beat the other by ``margin`` AUC to be preferred over PCA, the simpler
and cheaper one. The winner is refitted on all normal rows before export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu

from .reconstruction import Autoencoder, PcaModel, fit_autoencoder, fit_pca

__all__ = ["KINDS", "Segment", "TrainedModel", "roc_auc", "train_anomaly"]

KINDS = ("pca", "autoencoder")


@dataclass(frozen=True)
class Segment:
    """One time-ordered run of samples (a file, a device); ``labels`` marks known anomalies."""

    X: NDArray[np.float64]
    labels: NDArray[np.bool_] | None = None
    name: str = ""


@dataclass
class TrainedModel:
    model: PcaModel | Autoencoder
    kind: str
    train: NDArray[np.float64]  # the normal rows the final model was fitted on
    holdout: NDArray[np.float64]  # rows kept back, for the export check
    metrics: dict[str, Any] = field(default_factory=dict)


def roc_auc(normal: NDArray[np.float64], anomalous: NDArray[np.float64]) -> float:
    """P(score of an anomaly > score of a normal row), ties counted half (Mann-Whitney U)."""
    if len(normal) == 0 or len(anomalous) == 0:
        return float("nan")
    u = mannwhitneyu(anomalous, normal, alternative="two-sided").statistic
    return float(u / (len(normal) * len(anomalous)))


def synthetic_anomalies(
    normal: NDArray[np.float64], scale: NDArray[np.float64], seed: int
) -> NDArray[np.float64]:
    """Holdout rows made anomalous two ways: a level shift on one channel, or one channel
    swapped with another row's (values in range, relation broken)."""
    rng = np.random.default_rng(seed)
    out = normal.copy()
    n, d = out.shape
    cols = np.asarray(rng.integers(0, d, n), dtype=np.int64)
    shift = rng.uniform(size=n) < 0.5
    rows = np.arange(n)
    sign = rng.choice([-1.0, 1.0], n)
    out[rows[shift], cols[shift]] += 4.0 * sign[shift] * scale[cols[shift]]
    donors = np.asarray(rng.integers(0, n, n), dtype=np.int64)
    swap = rows[~shift]
    out[swap, cols[swap]] = normal[donors[swap], cols[swap]]
    return out


def _split(segments: Sequence[Segment], holdout: float) -> tuple[NDArray[np.float64], ...]:
    fit_rows, hold_normal, hold_anomalous = [], [], []
    for seg in segments:
        X = np.asarray(seg.X, dtype=np.float64)
        labels = np.zeros(len(X), dtype=bool) if seg.labels is None else np.asarray(seg.labels, dtype=bool)
        cut = len(X) - int(round(len(X) * holdout))
        fit_rows.append(X[:cut][~labels[:cut]])
        hold_normal.append(X[cut:][~labels[cut:]])
        hold_anomalous.append(X[cut:][labels[cut:]])
    return tuple(np.concatenate(parts) for parts in (fit_rows, hold_normal, hold_anomalous))


def _fit(kind: str, X: NDArray[np.float64], seed: int, progress: Callable[[str], None] | None) -> Any:
    if kind == "pca":
        return fit_pca(X)
    if kind == "autoencoder":

        def report(epoch: int, loss: float) -> None:
            if progress is not None and epoch % 10 == 0:
                progress(f"autoencoder epoch {epoch}: validation loss {loss:.4f}")

        return fit_autoencoder(X, seed=seed, progress=report)
    raise ValueError(f"unknown model kind {kind!r}; choose from {', '.join(KINDS)}")


def train_anomaly(
    segments: Sequence[Segment],
    kinds: Sequence[str] = KINDS,
    *,
    holdout: float = 0.2,
    margin: float = 0.01,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> TrainedModel:
    """Fit every kind in ``kinds``, keep the best by holdout AUC, refit it on all normal rows."""
    fit_rows, hold_normal, hold_anomalous = _split(segments, holdout)
    d = fit_rows.shape[1] if fit_rows.ndim == 2 else 0
    if d < 2:
        raise ValueError("a multivariate model needs at least two numeric channels")
    if len(fit_rows) < max(20, 5 * d):
        raise ValueError(f"only {len(fit_rows)} normal rows to learn from; need at least {max(20, 5 * d)}")
    labelled = len(hold_anomalous) > 0
    if not labelled:
        scale = np.nan_to_num(np.nanstd(fit_rows, axis=0), nan=1.0)
        hold_anomalous = synthetic_anomalies(hold_normal, np.where(scale > 0, scale, 1.0), seed)
    candidates: dict[str, dict[str, float]] = {}
    for kind in kinds:
        if progress is not None:
            progress(f"fitting {kind} on {len(fit_rows):,} normal rows x {d} channels")
        model = _fit(kind, fit_rows, seed, progress)
        normal_scores = model.score(hold_normal)
        candidates[kind] = {
            "holdout_auc": round(roc_auc(normal_scores, model.score(hold_anomalous)), 4),
            "holdout_normal_p50": float(np.median(normal_scores)) if len(normal_scores) else float("nan"),
            "holdout_normal_p99": float(np.quantile(normal_scores, 0.99))
            if len(normal_scores)
            else float("nan"),
        }
    chosen = kinds[0]
    for kind in kinds[1:]:
        gain = candidates[kind]["holdout_auc"] - candidates[chosen]["holdout_auc"]
        if gain > margin or (chosen != "pca" and kind == "pca" and gain > -margin):
            chosen = kind
    everything = np.concatenate([fit_rows, hold_normal])
    if progress is not None:
        progress(f"chose {chosen}; refitting on all {len(everything):,} normal rows")
    final = _fit(chosen, everything, seed, progress)
    metrics = {
        "chosen": chosen,
        "validation": "labelled anomalies" if labelled else "synthetic anomalies (shift and swap)",
        "holdout_share": holdout,
        "holdout_normal_rows": int(len(hold_normal)),
        "holdout_anomalous_rows": int(len(hold_anomalous)),
        "candidates": candidates,
    }
    holdout_rows = np.concatenate([hold_normal, hold_anomalous])
    return TrainedModel(final, chosen, everything, holdout_rows if len(holdout_rows) else everything, metrics)
