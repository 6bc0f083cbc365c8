"""int8 quantisation of an exported model (onnxruntime's static QDQ quantiser), to win back the speed an
ensemble costs on CPU.

Weights per channel in int8, activations in uint8, ranges calibrated on training films (never validation
films: those set the calibration, threshold and scope cut-off afterwards, measured on the quantised graph
itself). The averaging and the sigmoid stay in float, so the heat map's mean is still exactly the logit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx

from xrayviewer.inference.card import CARD_KEY, ModelCard

log = logging.getLogger(__name__)

FLOAT_OPS = ("ReduceMean", "Sigmoid", "GlobalAveragePool")


def quantize_int8(src: Path, dst: Path, calibration: np.ndarray, batch: int = 8) -> Path:
    """Quantise `src` into `dst` with activation ranges from `calibration` films [N, S, S] in [0, 1]."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    films = np.ascontiguousarray(calibration.astype(np.float32)[:, None])

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"image": films[i:i + batch]} for i in range(0, len(films), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    pre = dst.with_suffix(".pre.tmp.onnx")
    tmp = dst.with_suffix(".q.tmp.onnx")
    try:
        quant_pre_process(str(src), str(pre))
        keep_float = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in FLOAT_OPS]
        quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)
        model = onnx.load(str(tmp))
        del model.metadata_props[:]
        for prop in onnx.load(str(src), load_external_data=False).metadata_props:
            model.metadata_props.append(prop)
        onnx.save(model, str(tmp))
        tmp.replace(dst)
    finally:
        for f in (pre, tmp):
            f.unlink(missing_ok=True)
    return dst


def write_card(path: Path, card: ModelCard) -> None:
    """Replace the card inside an exported model (and its human-readable copy beside it)."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {CARD_KEY: card.to_json(), "producer": "xrayviewer train"})
    tmp = path.with_suffix(".card.tmp.onnx")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    path.with_suffix(".card.json").write_text(card.to_json() + "\n", encoding="utf-8")
