"""Export a trained checkpoint to the ONNX contract, with its threshold and model card inside."""

from __future__ import annotations

import datetime as dt
import os
import platform
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from xrayviewer.inference.card import CARD_KEY, ModelCard
from xrayviewer.training.networks import CamNet, Ensemble, ExportWrapper, build_network


def hardware_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} logical cores{gpu}; torch {torch.__version__}"


def load_ensemble(paths: list[Path]) -> tuple[CamNet, list[dict]]:
    """One member's checkpoint gives that network; several give their :class:`Ensemble`."""
    loaded = [load_checkpoint(p) for p in paths]
    if len(loaded) == 1:
        return loaded[0][0], [loaded[0][1]]
    sizes = {s["config"]["input_size"] for _, s in loaded}
    if len(sizes) != 1:
        raise ValueError(f"ensemble members must share one input size, have {sorted(sizes)}")
    return Ensemble([n for n, _ in loaded]).eval(), [s for _, s in loaded]


def load_checkpoint(path: Path) -> tuple[CamNet, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    cfg = state["config"]
    net = build_network(cfg["architecture"], cfg["input_size"], pretrained=False)
    net.load_state_dict(state["model"])
    return net.eval(), state


def export_onnx(net: CamNet, card: ModelCard, out: Path, opset: int = 17) -> Path:
    """Write the model with outputs probability, cam, feat_1..k and the card in its metadata."""
    net = net.eval()
    size = card.input_size
    wrapper = ExportWrapper(net).eval()
    with torch.no_grad():
        n_taps = len(wrapper(torch.zeros(1, 1, size, size))) - 3
    feats = [f"feat_{i + 1}_{name}" for i, name in enumerate(getattr(net, "feature_taps", [])[:n_taps])]
    card.feature_outputs = feats
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    names = ["probability", "cam", "embedding", *feats]
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but gives a plain, static graph that onnxruntime runs
        # fastest on CPU; torch 2.14 still ships it.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapper, (torch.zeros(2, 1, size, size),), str(tmp), input_names=["image"], output_names=names,
            dynamic_axes={n: {0: "N"} for n in ["image", *names]}, opset_version=opset, dynamo=False,
        )
    model = onnx.load(str(tmp))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {CARD_KEY: card.to_json(), "producer": "xrayviewer train"})
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    tmp.replace(out)
    out.with_suffix(".card.json").write_text(card.to_json() + "\n", encoding="utf-8")
    return out


def parity(net: torch.nn.Module, onnx_path: Path, images: np.ndarray) -> dict[str, float]:
    """Largest absolute differences between torch and onnxruntime on the same films."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = images.astype(np.float32)[:, None]
    with torch.no_grad():
        logit, cam = net(torch.from_numpy(x))
    prob_o, cam_o = sess.run(["probability", "cam"], {"image": x})
    return {
        "probability": float(np.abs(torch.sigmoid(logit).numpy() - prob_o).max()),
        "cam": float(np.abs(cam.numpy() - cam_o).max()),
    }


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
