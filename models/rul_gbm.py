"""Gradient-boosted trees for remaining useful life (LightGBM), exported as an ONNX tree ensemble.

LightGBM trains the trees on :mod:`models.rul_features` (a few seconds for FD001 on two
cores). The ONNX graph is one ``ai.onnx.ml.TreeEnsembleRegressor`` written here from the
booster's own dump, followed by a clip to ``[0, cap]``; its input is the feature matrix in
float64 with float64 thresholds, so ONNX Runtime takes the same branch as LightGBM at every
split. (float32 thresholds would send a value that falls between the two roundings down
the other branch.)

Why LightGBM and not a network: on FD001 it reaches a cross-validated test-protocol RMSE
of 11.7 where the 3-member MLP reached 16.3, and trains in a tenth of a minute instead of
ten (docs/models.md has both, from ``bench/rul.py``).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from onnx import NodeProto, TensorProto, helper

__all__ = ["PARAMS", "RulGbm", "fit_rul_gbm"]

#: Chosen on FD001's cross-validation (docs/models.md); shallow trees and bagging, since
#: 100 units are few and their cycles are strongly correlated.
PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
}
ROUNDS = 300


class RulGbm:
    kind = "rul-gbm"

    def __init__(self, booster: lgb.Booster, cap: float) -> None:
        self.booster = booster
        self.cap = cap

    def predict(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        out = self.booster.predict(np.asarray(features, dtype=np.float64))
        return np.asarray(np.clip(out, 0.0, self.cap), dtype=np.float64)

    def onnx_nodes(self, input_name: str, output: str) -> list[NodeProto]:
        """The tree ensemble and the clip, from ``input_name`` (N x features, float64)."""
        attrs: dict[str, list[Any]] = {
            k: []
            for k in (
                "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_truenodeids",
                "nodes_falsenodeids", "nodes_missing_value_tracks_true", "target_treeids",
                "target_nodeids", "target_ids", "target_weights",
            )
        }  # fmt: skip
        thresholds: list[float] = []
        for tree_id, tree in enumerate(self.booster.dump_model()["tree_info"]):
            _add_tree(tree["tree_structure"], tree_id, attrs, thresholds)
        options: dict[str, Any] = {
            "n_targets": 1,
            "aggregate_function": "SUM",
            "post_transform": "NONE",
            "nodes_values_as_tensor": helper.make_tensor(
                "nodes_values", TensorProto.DOUBLE, [len(thresholds)], thresholds
            ),
            **attrs,
        }
        ensemble = helper.make_node(
            "TreeEnsembleRegressor", [input_name], ["raw"], domain="ai.onnx.ml", **options
        )
        return [
            ensemble,
            helper.make_node("Reshape", ["raw", "flat_shape"], ["flat"]),
            helper.make_node("Clip", ["flat", "rul_min", "rul_max"], [output]),
        ]

    def onnx_initialisers(self) -> list[TensorProto]:
        return [
            helper.make_tensor("flat_shape", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("rul_min", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("rul_max", TensorProto.FLOAT, [], [float(self.cap)]),
        ]


def _add_tree(
    root: dict[str, Any], tree_id: int, attrs: dict[str, list[Any]], thresholds: list[float]
) -> None:
    """Number the tree's nodes depth-first and write each as a branch or a leaf."""
    stack = [root]
    ids: dict[int, int] = {}

    def node_id(node: dict[str, Any]) -> int:
        return ids.setdefault(id(node), len(ids))

    while stack:
        node = stack.pop()
        me = node_id(node)
        attrs["nodes_treeids"].append(tree_id)
        attrs["nodes_nodeids"].append(me)
        if "leaf_value" in node:
            attrs["nodes_featureids"].append(0)
            attrs["nodes_modes"].append("LEAF")
            attrs["nodes_truenodeids"].append(0)
            attrs["nodes_falsenodeids"].append(0)
            attrs["nodes_missing_value_tracks_true"].append(0)
            thresholds.append(0.0)
            attrs["target_treeids"].append(tree_id)
            attrs["target_nodeids"].append(me)
            attrs["target_ids"].append(0)
            attrs["target_weights"].append(float(node["leaf_value"]))
            continue
        if node["decision_type"] != "<=":
            raise ValueError(
                f"unsupported split {node['decision_type']!r} (categorical features are not used)"
            )
        left, right = node["left_child"], node["right_child"]
        attrs["nodes_featureids"].append(int(node["split_feature"]))
        attrs["nodes_modes"].append("BRANCH_LEQ")
        attrs["nodes_truenodeids"].append(node_id(left))
        attrs["nodes_falsenodeids"].append(node_id(right))
        attrs["nodes_missing_value_tracks_true"].append(int(bool(node.get("default_left", True))))
        thresholds.append(float(node["threshold"]))
        stack += [right, left]


def fit_rul_gbm(
    X: NDArray[np.float64], y: NDArray[np.float64], *, cap: float, seed: int, rounds: int = ROUNDS
) -> RulGbm:
    params = {**PARAMS, "seed": seed, "num_threads": 2, "deterministic": True, "force_row_wise": True}
    booster = lgb.train(params, lgb.Dataset(X, y), rounds)
    return RulGbm(booster, cap)
