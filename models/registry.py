"""Detectors by name, for configuration files and ``--detector``.

``surprise`` (the default: adaptive robust residuals per operating mode with memories
in time, see :mod:`models.modal_surprise`), ``surprise-single`` (the same with one
baseline), ``robust`` (the previous default: robust residuals and CUSUM
per operating mode, learning only what it judged normal), ``robust-single`` (one
baseline, no modes), ``hst`` (River Half-Space Trees), ``onnx:PATH`` for an exported
model file, or several joined by ``+`` (``robust+onnx:PATH``) for an ensemble.
"""

from __future__ import annotations

from pathlib import Path

from .base import Detector
from .modal import ModalDetector
from .modal_surprise import ModalSurpriseDetector
from .robust import RobustDetector
from .surprise import SurpriseDetector

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "detector_problem", "make_detector"]

DEFAULT_DETECTOR = "surprise"
DETECTORS = ("surprise", "surprise-single", "robust", "robust-single", "hst", "onnx:PATH", "robust+onnx:PATH")


def detector_problem(name: str) -> str | None:
    """Why ``name`` is not a detector this version can build (None when it is), checked
    without building it: a configuration is judged at start, not when data arrives."""
    for part in name.split("+") if "+" in name else [name]:
        if part.startswith("onnx:"):
            if not Path(part[5:]).is_file():
                return f"detector {name!r}: no ONNX file at {part[5:]}"
        elif part not in DETECTORS:
            return f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}"
    return None


def make_detector(name: str = DEFAULT_DETECTOR, features: list[str] | None = None) -> Detector:
    if "+" in name:
        from .ensemble import EnsembleDetector

        members = [make_detector(part, _own_features(part, features)) for part in name.split("+")]
        ensemble = EnsembleDetector(members)
        ensemble.add_features(list(features or []))
        return ensemble
    if name == "surprise":
        return ModalSurpriseDetector(features=features)
    if name == "surprise-single":
        return SurpriseDetector(features=features)
    if name == "robust":
        return ModalDetector(features=features)
    if name == "robust-single":
        return RobustDetector(features=features)
    if name == "hst":
        from .river_adapter import RiverDetector  # River is imported only by those who use it

        return RiverDetector(features=features)
    if name.startswith("onnx:"):
        from .onnx_adapter import OnnxDetector

        return OnnxDetector(Path(name[5:]), features=features)
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def _own_features(part: str, features: list[str] | None) -> list[str] | None:
    """An ONNX member keeps the features its file names; the others take the caller's."""
    return None if part.startswith("onnx:") else features
