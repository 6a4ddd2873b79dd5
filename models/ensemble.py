"""Several detectors as one: each member's score is calibrated on its own, the loudest wins.

Members score on incomparable scales (robust z-equivalents, a squared reconstruction
error), so each keeps a :class:`~models.calibration.TailCalibrator` of its own normal
scores. The ensemble's raw score is the largest member score read as a z-equivalent
(the normal quantile of its calibrated value), which is the scale the pipeline's own
calibrator and the health trend already expect. Taking the maximum means a fault either
member sees is raised; the price is the union of their false alarms, which is why the
bench reports both alone and together.

Spelled ``robust+onnx:model.onnx`` wherever a detector is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from .base import BatchDetector, Detector, as_matrix
from .calibration import TailCalibrator

__all__ = ["EnsembleDetector"]


class EnsembleDetector(BatchDetector):
    def __init__(self, members: list[Detector], calibrators: list[TailCalibrator] | None = None) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two detectors")
        self.members = members
        self.calibrators = calibrators or [TailCalibrator() for _ in members]
        self.features: list[str] = []
        self.add_features([f for m in members for f in m.features])
        self._generations = [getattr(m, "generation_", 0) for m in members]
        self._last: tuple[NDArray[np.float64], list[NDArray[np.float64]]] | None = None
        self._layout: dict[int, tuple[tuple[int, int, int], list[int], list[int]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last": None, "_layout": {}}  # member ids change across a pickle

    @property
    def generation_(self) -> int:
        """Changes whenever a member restructures, so the pipeline restarts its calibration too."""
        return sum(getattr(m, "generation_", 0) for m in self.members)

    def add_features(self, names: list[str]) -> None:
        new = [n for n in dict.fromkeys(names) if n not in self.features]
        self.features.extend(new)
        for m in self.members:
            if hasattr(m, "add_features"):
                m.add_features([n for n in new if n not in m.features])

    def _columns(self, member: Detector, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """``X`` (in the ensemble's order) in the member's order; channels it lacks are NaN."""
        key = (id(member), len(self.features), len(member.features))
        cached = self._layout.get(id(member))
        if cached is None or cached[0] != key:  # channels change rarely: work the layout out then
            position = {f: i for i, f in enumerate(self.features)}
            idx = [position.get(f, -1) for f in member.features]
            cached = (key, [max(i, 0) for i in idx], [j for j, i in enumerate(idx) if i < 0])
            self._layout[id(member)] = cached
        _, take, absent = cached
        out = X[:, take]
        out[:, absent] = np.nan
        return out

    def member_scores(self, X: Any) -> NDArray[np.float64]:
        """Calibrated 0..1 score of each member (samples x members)."""
        X = as_matrix(X)
        raws = [m.score_many(self._columns(m, X)) for m in self.members]
        self._last = (X, raws)  # learn_many right after, on the same batch, reuses these
        cols = [cal.transform(r) for r, cal in zip(raws, self.calibrators, strict=True)]
        return np.column_stack(cols)

    def score_many(self, X: Any) -> NDArray[np.float64]:
        u = self.member_scores(X)
        return np.asarray(ndtri(np.clip(u.max(axis=1), 0.5, 1 - 1e-12)))

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        X = as_matrix(X)
        learn = np.ones(len(X), dtype=bool) if where is None else np.asarray(where, dtype=bool)
        last, self._last = self._last, None
        for i, (m, cal) in enumerate(zip(self.members, self.calibrators, strict=True)):
            own = self._columns(m, X)
            m.learn_many(own, where=learn)
            if not learn.any():
                judged = np.zeros(0)
            elif last is not None and last[0] is X:  # streaming: the scores it was judged by
                judged = last[1][i][learn]
            else:  # a bulk fit: what the member says of the rows once it has learned them
                judged = m.score_many(own[learn])
            generation = getattr(m, "generation_", 0)
            if generation != self._generations[i]:  # new scale: the member's calibration restarts
                self._generations[i] = generation
                self.calibrators[i] = cal = cal.clone()
            elif len(judged):
                cal.update(judged)

    def channel_scores(self, X: Any) -> NDArray[np.float64]:
        """Per-channel contributions from the first member that can explain itself."""
        X = as_matrix(X)
        out = np.full(X.shape, np.nan)
        for m in self.members:
            explain = getattr(m, "channel_scores", None)
            if explain is not None:
                comp = explain(self._columns(m, X))
                for j, f in enumerate(m.features):
                    out[:, self.features.index(f)] = comp[:, j]
                return out
        return out
