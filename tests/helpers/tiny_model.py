"""Build a tiny ONNX model that honours the xrayviewer contract, without torch.

It is a real (if naive) classifier: the CAM is the film's block-averaged brightness minus 0.5, scaled,
so brighter films score higher. Tests use it where the bundled model is not the subject.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from xrayviewer.inference.card import CARD_KEY, ModelCard


def build_tiny_model(path: Path, *, size: int = 64, cam: int = 8, gain: float = 8.0,
                     threshold: float = 0.5, card: ModelCard | None = None,
                     with_features: bool = True, opset: int = 18) -> Path:
    k = size // cam
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[k, k], strides=[k, k]),
        helper.make_node("Sub", ["pooled", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["cam4"]),
        helper.make_node("Squeeze", ["cam4", "axis1"], ["cam"]),
        helper.make_node("ReduceMean", ["cam", "axes12"], ["logit"], keepdims=0),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes12"),
    ]
    outputs = [
        helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("cam", TensorProto.FLOAT, ["N", cam, cam]),
    ]
    feature_names = []
    if with_features:
        # Two "depths": edge-like and coarse maps, each a few channels.
        w1 = np.stack([np.array([[-1, 0, 1]] * 3, np.float32), np.array([[-1, 0, 1]] * 3, np.float32).T,
                       np.full((3, 3), 1 / 9, np.float32)])[:, None]
        inits.append(numpy_helper.from_array(w1, "w1"))
        nodes.append(helper.make_node("Conv", ["image", "w1"], ["feat_1_conv"], pads=[1, 1, 1, 1], strides=[2, 2]))
        nodes.append(helper.make_node("Relu", ["feat_1_conv"], ["feat_1"]))
        nodes.append(helper.make_node("MaxPool", ["feat_1"], ["feat_2"], kernel_shape=[4, 4], strides=[4, 4]))
        outputs += [
            helper.make_tensor_value_info("feat_1", TensorProto.FLOAT, ["N", 3, size // 2, size // 2]),
            helper.make_tensor_value_info("feat_2", TensorProto.FLOAT, ["N", 3, size // 8, size // 8]),
        ]
        feature_names = ["feat_1", "feat_2"]
    graph = helper.make_graph(
        nodes, "tiny_xray",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
        outputs, inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    card = card or ModelCard(
        id="tiny-test-model", input_size=size, threshold=threshold,
        threshold_rule="fixed at 0.5 for tests", architecture="brightness pooling (test only)",
        feature_outputs=feature_names,
    )
    helper.set_model_props(model, {CARD_KEY: card.to_json()})
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
