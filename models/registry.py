"""Detectors by name, for configuration files and ``--detector``.

``robust`` (the default: robust residuals per operating mode), ``robust-single`` (one
baseline, no modes), ``hst`` (River Half-Space Trees), ``onnx:PATH`` for an exported
model file, or several joined by ``+`` (``robust+onnx:PATH``) for an ensemble.
"""

from __future__ import annotations

from pathlib import Path

from .base import Detector
from .modal import ModalDetector
from .river_adapter import RiverDetector
from .robust import RobustDetector

__all__ = ["DETECTORS", "make_detector"]

DETECTORS = ("robust", "robust-single", "hst", "onnx:PATH", "robust+onnx:PATH")


def make_detector(name: str = "robust", features: list[str] | None = None) -> Detector:
    if "+" in name:
        from .ensemble import EnsembleDetector

        members = [make_detector(part, _own_features(part, features)) for part in name.split("+")]
        ensemble = EnsembleDetector(members)
        ensemble.add_features(list(features or []))
        return ensemble
    if name == "robust":
        return ModalDetector(features=features)
    if name == "robust-single":
        return RobustDetector(features=features)
    if name == "hst":
        return RiverDetector(features=features)
    if name.startswith("onnx:"):
        from .onnx_adapter import OnnxDetector

        return OnnxDetector(Path(name[5:]), features=features)
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def _own_features(part: str, features: list[str] | None) -> list[str] | None:
    """An ONNX member keeps the features its file names; the others take the caller's."""
    return None if part.startswith("onnx:") else features
