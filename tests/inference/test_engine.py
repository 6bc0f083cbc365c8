"""The engine refuses anything that breaks the model contract, with a message a user can act on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.inference.card import CARD_KEY, ModelCard
from xrayviewer.inference.engine import Engine, ModelError

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def _edit(src: Path, dst: Path, edit) -> Path:
    model = onnx.load(str(src))
    edit(model)
    onnx.save(model, str(dst))
    return dst


def _rename_input(model: onnx.ModelProto) -> None:
    model.graph.input[0].name = "pixels"
    for node in model.graph.node:
        node.input[:] = ["pixels" if i == "image" else i for i in node.input]


def _drop_output(name: str):
    def edit(model: onnx.ModelProto) -> None:
        keep = [o for o in model.graph.output if o.name != name]
        del model.graph.output[:]
        model.graph.output.extend(keep)

    return edit


def _drop_card(model: onnx.ModelProto) -> None:
    keep = [p for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)


def _set_input_width(model: onnx.ModelProto) -> None:
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 32


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        Engine(tmp_path / "nope.onnx", "cpu")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="implausible size"):
        Engine(tmp_path / "empty.onnx", "cpu")


def test_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        Engine(tmp_path / "junk.onnx", "cpu")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_rename_input, "one input named 'image'"),
        (_set_input_width, r"does not match \[N,1,64,64\]"),
        (_drop_output("cam"), "lacks the 'cam' output"),
        (_drop_output("probability"), "lacks the 'probability' output"),
        (_drop_card, "has no model card"),
    ],
    ids=["input-name", "input-shape", "no-cam", "no-probability", "no-card"],
)
def test_contract_violations(tmp_path: Path, tiny_model: Path, edit, message: str) -> None:
    bad = _edit(tiny_model, tmp_path / "bad.onnx", edit)
    with pytest.raises(ModelError, match=message):
        Engine(bad, "cpu")


def test_card_input_size_mismatch(tmp_path: Path) -> None:
    card = ModelCard(id="liar", input_size=32, threshold=0.5, threshold_rule="test")
    path = build_tiny_model(tmp_path / "liar.onnx", size=64, card=card)
    with pytest.raises(ModelError, match=r"does not match \[N,1,32,32\] from its model card"):
        Engine(path, "cpu")


def test_invalid_card_threshold(tmp_path: Path) -> None:
    card = ModelCard(id="bad-threshold", input_size=64, threshold=1.5, threshold_rule="test")
    path = build_tiny_model(tmp_path / "t.onnx", card=card)
    with pytest.raises(ModelError, match="invalid model card"):
        Engine(path, "cpu")


def test_unknown_provider(tiny_model: Path) -> None:
    with pytest.raises(ModelError, match="unknown provider"):
        Engine(tiny_model, "tpu")


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA")
def test_cuda_without_cuda(tiny_model: Path) -> None:
    with pytest.raises(ModelError, match="CUDA was asked for"):
        Engine(tiny_model, "cuda")


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA")
def test_auto_falls_back_to_cpu(tiny_model: Path) -> None:
    assert Engine(tiny_model, "auto").provider == "CPU"


def test_run_probability_is_sigmoid_of_mean_cam(tiny_model: Path) -> None:
    engine = Engine(tiny_model, "cpu", threads=1)
    assert engine.input_size == 64
    assert engine.card.id == "tiny-test-model"
    rng = np.random.default_rng(1)
    images = rng.random((5, 64, 64), dtype=np.float32)
    images[0] = 0.0
    images[1] = 1.0
    pred = engine.run(images)
    assert pred.probability.shape == (5,)
    assert pred.cam.shape == (5, 8, 8)
    assert pred.probability.dtype == np.float32
    expected = 1.0 / (1.0 + np.exp(-pred.cam.mean(axis=(1, 2))))
    np.testing.assert_allclose(pred.probability, expected, rtol=1e-5, atol=1e-6)
    # The tiny model's CAM is block brightness: an all-black film scores low, an all-white one high.
    assert pred.probability[0] < 0.05 < 0.95 < pred.probability[1]
    # [N, 1, S, S] is accepted too and gives the same answer.
    np.testing.assert_allclose(engine.run(images[:, None]).probability, pred.probability, rtol=1e-6)


def test_features(tiny_model: Path) -> None:
    engine = Engine(tiny_model, "cpu", threads=1)
    assert engine.feature_names == ["feat_1", "feat_2"]
    feats = engine.features(np.full((64, 64), 0.5, np.float32))
    assert feats["feat_1"].shape == (3, 32, 32)
    assert feats["feat_2"].shape == (3, 8, 8)


def test_features_absent(tmp_path: Path) -> None:
    engine = Engine(build_tiny_model(tmp_path / "nofeat.onnx", with_features=False), "cpu")
    assert engine.feature_names == []
    assert engine.features(np.zeros((64, 64), np.float32)) == {}
