"""Train, cross-validate and export a remaining-useful-life model on C-MAPSS run-to-failure units.

The test files' truth is not shipped, so quality is measured on training units the model
never saw: units are split into ``folds`` groups, and each group is predicted by a model
trained (preparation included) on the others. Two readings of those predictions:

* **every cycle**: RMSE against the capped target at every cycle of the held-out units,
  the figure a training curve shows;
* **test protocol**: each held-out unit is cut at 10 random points whose true RUL lies in
  5..150 cycles (the span of the official test files), predicted at the cut, and scored
  with RMSE and NASA's asymmetric score against the uncapped truth. This is what
  ``predict-rul`` on a test file will be judged by.

NASA's score, per prediction with error ``d = predicted - true``: ``exp(-d/13) - 1`` when
early, ``exp(d/10) - 1`` when late (a late call costs more); summed over units, and reported
here per 100 units so folds of any size compare with published figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cmapss import RUL_CAP, Prep, Run, fit_prep, rul_targets
from .rul_net import RulNet, fit_rul_net

__all__ = ["RulModel", "RulSettings", "cross_validate", "nasa_score", "rmse", "train_rul"]

Progress = Callable[[str], None] | None


def rmse(pred: NDArray[np.float64], true: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2)))


def nasa_score(pred: NDArray[np.float64], true: NDArray[np.float64]) -> float:
    """Sum of NASA's asymmetric penalties (0 when exact; late predictions cost more)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


@dataclass
class RulModel:
    net: RulNet
    prep: Prep
    metrics: dict[str, Any]

    def predict_last(self, runs: Sequence[Run]) -> NDArray[np.float64]:
        """RUL at the last cycle of each run."""
        return self.net.predict(np.concatenate([self.prep.windows(r, last_only=True) for r in runs]))


def _dataset(prep: Prep, runs: Sequence[Run], cap: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return (
        np.concatenate([prep.windows(r) for r in runs]),
        np.concatenate([rul_targets(r, cap) for r in runs]),
    )


def _fit(
    runs: Sequence[Run], window: int, cap: float, members: int, seed: int, progress: Progress
) -> tuple[RulNet, Prep]:
    """Preparation and networks from ``runs``; a tenth of the units decide when to stop."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    n_val = max(1, len(runs) // 10)
    fit_runs = [runs[i] for i in order[n_val:]]
    val_runs = [runs[i] for i in order[:n_val]]
    prep = fit_prep(list(fit_runs), window, seed)
    net = fit_rul_net(
        _dataset(prep, fit_runs, cap),
        _dataset(prep, val_runs, cap),
        cap=cap,
        members=members,
        seed=seed,
        progress=progress,
    )
    return net, prep


def _truncations(run: Run, rng: np.random.Generator, per_unit: int) -> list[tuple[Run, float]]:
    """Copies of a run cut where the true RUL is 5..150 cycles, with that RUL."""
    n = len(run.sensors)
    cuts = np.arange(max(1, n - 150), n - 4)  # keep cycles [0, cut]; RUL = n - 1 - cut
    if not len(cuts):
        return []
    chosen = rng.choice(cuts, size=min(per_unit, len(cuts)), replace=False)
    return [(Run(run.unit, run.settings[: c + 1], run.sensors[: c + 1]), float(n - 1 - c)) for c in chosen]


@dataclass(frozen=True)
class RulSettings:
    """What a RUL model is trained with: cycles per window, target cap, networks averaged, seed."""

    window: int = 30
    cap: float = RUL_CAP
    members: int = 3
    seed: int = 0


def cross_validate(
    runs: Sequence[Run], settings: RulSettings = RulSettings(), *, folds: int = 5, progress: Progress = None
) -> dict[str, Any]:
    window, cap, members, seed = settings.window, settings.cap, settings.members, settings.seed
    rng = np.random.default_rng(seed)
    groups = np.array_split(rng.permutation(len(runs)), folds)
    every_pred, every_true, cut_pred, cut_true, per_fold = [], [], [], [], []
    for k, held in enumerate(groups):
        held_set = set(held.tolist())
        train_runs = [r for i, r in enumerate(runs) if i not in held_set]
        test_runs = [runs[i] for i in held]

        def report(text: str, k: int = k) -> None:
            if progress is not None:
                progress(f"fold {k + 1}/{folds}: {text}")

        net, prep = _fit(train_runs, window, cap, members, seed, report)
        X, y = _dataset(prep, test_runs, cap)
        p = net.predict(X)
        cuts = [c for r in test_runs for c in _truncations(r, rng, 10)]
        cp = RulModel(net, prep, {}).predict_last([c for c, _ in cuts])
        ct = np.array([t for _, t in cuts])
        every_pred.append(p)
        every_true.append(y)
        cut_pred.append(cp)
        cut_true.append(ct)
        per_fold.append(
            {
                "units": len(test_runs),
                "rmse_every_cycle": round(rmse(p, y), 2),
                "rmse_test_protocol": round(rmse(cp, ct), 2),
            }
        )
    ep, et = np.concatenate(every_pred), np.concatenate(every_true)
    cp, ct = np.concatenate(cut_pred), np.concatenate(cut_true)
    return {
        "folds": folds,
        "units": len(runs),
        "rmse_every_cycle": round(rmse(ep, et), 2),
        "rmse_test_protocol": round(rmse(cp, ct), 2),
        "nasa_score_per_100_units": round(nasa_score(cp, ct) * 100 / len(cp), 1),
        "test_protocol_predictions": int(len(cp)),
        "per_fold": per_fold,
    }


def train_rul(
    runs: Sequence[Run], settings: RulSettings = RulSettings(), *, folds: int = 5, progress: Progress = None
) -> RulModel:
    """Cross-validate (``folds`` > 1), then fit the model to ship on every unit."""
    if len(runs) < max(folds, 2) * 2:
        raise ValueError(f"{len(runs)} units are too few to train and cross-validate on")
    t0 = time.perf_counter()
    metrics: dict[str, Any] = {
        "window": settings.window,
        "rul_cap": settings.cap,
        "members": settings.members,
        "seed": settings.seed,
    }
    if folds > 1:
        metrics["cross_validation"] = cross_validate(runs, settings, folds=folds, progress=progress)

    def final(text: str) -> None:
        if progress is not None:
            progress(f"final model: {text}")

    net, prep = _fit(runs, settings.window, settings.cap, settings.members, settings.seed, final)
    metrics["train_units"] = len(runs)
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    return RulModel(net, prep, metrics)
