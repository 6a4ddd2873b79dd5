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
from .rul_features import RulFeatures, fit_features
from .rul_gbm import RulGbm, fit_rul_gbm
from .rul_intervals import Intervals, calibrate, cross_conformal_coverage
from .rul_net import RulNet, fit_rul_net

__all__ = ["KINDS", "RulModel", "RulSettings", "cross_validate", "nasa_score", "rmse", "train_rul"]

#: the model kinds ``train-rul`` can build; "gbm" is the default (docs/models.md: why)
KINDS = ("gbm", "mlp")
WINDOWS = {"gbm": 60, "mlp": 30}  # each kind's best window on FD001's cross-validation

Progress = Callable[[str], None] | None


def rmse(pred: NDArray[np.float64], true: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2)))


def nasa_score(pred: NDArray[np.float64], true: NDArray[np.float64]) -> float:
    """Sum of NASA's asymmetric penalties (0 when exact; late predictions cost more)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


@dataclass
class RulModel:
    """A fitted estimator with the preparation it needs; a tree model also has its features.
    ``intervals`` (from the cross-validation) are None when trained without folds."""

    estimator: RulNet | RulGbm
    prep: Prep
    metrics: dict[str, Any]
    features: RulFeatures | None = None
    intervals: Intervals | None = None

    def inputs(self, runs: Sequence[Run], last_only: bool = True) -> NDArray[np.float64]:
        """What the estimator takes for ``runs``: windows (network) or features (trees)."""
        if self.features is not None:
            return np.concatenate([self.features.of_run(r, last_only) for r in runs])
        return np.concatenate([self.prep.windows(r, last_only=last_only) for r in runs])

    def predict_last(self, runs: Sequence[Run]) -> NDArray[np.float64]:
        """RUL at the last cycle of each run."""
        return self.estimator.predict(self.inputs(runs))


def _targets(runs: Sequence[Run], cap: float) -> NDArray[np.float64]:
    return np.concatenate([rul_targets(r, cap) for r in runs])


def _fit(runs: Sequence[Run], settings: RulSettings, progress: Progress) -> RulModel:
    """Preparation and estimator from ``runs`` (metrics left to the caller)."""
    window, cap, seed = settings.window_cycles, settings.cap, settings.seed
    if settings.kind == "gbm":
        prep = fit_prep(list(runs), window, seed)
        features = fit_features(prep, runs, cap)
        X = np.concatenate([features.of_run(r) for r in runs])
        if progress is not None:
            progress(f"boosting trees on {len(X):,} cycles x {X.shape[1]} features")
        return RulModel(fit_rul_gbm(X, _targets(runs, cap), cap=cap, seed=seed), prep, {}, features)
    # the network: a tenth of the units decide when to stop
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    n_val = max(1, len(runs) // 10)
    fit_runs = [runs[i] for i in order[n_val:]]
    val_runs = [runs[i] for i in order[:n_val]]
    prep = fit_prep(list(fit_runs), window, seed)
    windows = (
        (np.concatenate([prep.windows(r) for r in fit_runs]), _targets(fit_runs, cap)),
        (np.concatenate([prep.windows(r) for r in val_runs]), _targets(val_runs, cap)),
    )
    net = fit_rul_net(*windows, cap=cap, members=settings.members, seed=seed, progress=progress)
    return RulModel(net, prep, {})


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
    """What a RUL model is trained with: its kind, cycles per window (None: the kind's
    own), target cap, networks averaged (``mlp``), seed."""

    kind: str = "gbm"
    window: int | None = None
    cap: float = RUL_CAP
    members: int = 3
    seed: int = 0

    @property
    def window_cycles(self) -> int:
        return self.window or WINDOWS[self.kind]


@dataclass
class CrossValidation:
    metrics: dict[str, Any]
    pred: NDArray[np.float64]  # test-protocol predictions of held-out engines
    true: NDArray[np.float64]
    fold: NDArray[np.int64]


def cross_validate(
    runs: Sequence[Run], settings: RulSettings = RulSettings(), *, folds: int = 5, progress: Progress = None
) -> CrossValidation:
    rng = np.random.default_rng(settings.seed)
    groups = np.array_split(rng.permutation(len(runs)), folds)
    every_pred, every_true, cut_pred, cut_true, cut_fold, per_fold = [], [], [], [], [], []
    for k, held in enumerate(groups):
        held_set = set(held.tolist())
        train_runs = [r for i, r in enumerate(runs) if i not in held_set]
        test_runs = [runs[i] for i in held]

        def report(text: str, k: int = k) -> None:
            if progress is not None:
                progress(f"fold {k + 1}/{folds}: {text}")

        model = _fit(train_runs, settings, report)
        p = model.estimator.predict(model.inputs(test_runs, last_only=False))
        y = _targets(test_runs, settings.cap)
        cuts = [c for r in test_runs for c in _truncations(r, rng, 10)]
        cp = model.predict_last([c for c, _ in cuts])
        ct = np.array([t for _, t in cuts])
        every_pred.append(p)
        every_true.append(y)
        cut_pred.append(cp)
        cut_true.append(ct)
        cut_fold.append(np.full(len(cp), k))
        per_fold.append(
            {
                "units": len(test_runs),
                "rmse_every_cycle": round(rmse(p, y), 2),
                "rmse_test_protocol": round(rmse(cp, ct), 2),
            }
        )
    ep, et = np.concatenate(every_pred), np.concatenate(every_true)
    cp, ct, cf = np.concatenate(cut_pred), np.concatenate(cut_true), np.concatenate(cut_fold)
    metrics = {
        "folds": folds,
        "units": len(runs),
        "rmse_every_cycle": round(rmse(ep, et), 2),
        "rmse_test_protocol": round(rmse(cp, ct), 2),
        "nasa_score_per_100_units": round(nasa_score(cp, ct) * 100 / len(cp), 1),
        "test_protocol_predictions": int(len(cp)),
        "intervals": cross_conformal_coverage(cp, ct, cf) if folds > 1 and len(cp) >= 60 else None,
        "per_fold": per_fold,
    }
    return CrossValidation(metrics, cp, ct, cf)


def train_rul(
    runs: Sequence[Run], settings: RulSettings = RulSettings(), *, folds: int = 5, progress: Progress = None
) -> RulModel:
    """Cross-validate (``folds`` > 1), then fit the model to ship on every unit, with
    intervals calibrated on the cross-validation's held-out engines."""
    if settings.kind not in KINDS:
        raise ValueError(f"unknown RUL model kind {settings.kind!r} (one of {', '.join(KINDS)})")
    if len(runs) < max(folds, 2) * 2:
        raise ValueError(f"{len(runs)} units are too few to train and cross-validate on")
    t0 = time.perf_counter()
    metrics: dict[str, Any] = {
        "kind": settings.kind,
        "window": settings.window_cycles,
        "rul_cap": settings.cap,
        "seed": settings.seed,
    }
    if settings.kind == "mlp":
        metrics["members"] = settings.members
    intervals = None
    if folds > 1:
        cv = cross_validate(runs, settings, folds=folds, progress=progress)
        metrics["cross_validation"] = cv.metrics
        if cv.metrics["intervals"] is not None:
            intervals = calibrate(cv.pred, cv.true)

    def final(text: str) -> None:
        if progress is not None:
            progress(f"final model: {text}")

    model = _fit(runs, settings, final)
    metrics["train_units"] = len(runs)
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    model.metrics, model.intervals = metrics, intervals
    return model
