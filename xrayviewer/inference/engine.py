"""The ONNX engine: loads a classifier, checks its contract and runs batches on CUDA or CPU.

Contract: input ``image`` float32 [N, 1, S, S] in [0, 1] (see :func:`preprocess`); outputs
``probability`` float32 [N] and ``cam`` float32 [N, h, w] with mean(cam) == logit; optional ``embedding``
[N, D] (the pooled last feature map, for the scope gate's out-of-distribution score) and ``feat_*``
[N, C, h, w] (convolution feature maps for the feature-map viewer). The model card lives in the ONNX
metadata; its ``temperature`` is applied here, so every probability leaving the engine is calibrated.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrayviewer.inference.calibration import sigmoid
from xrayviewer.inference.card import CARD_KEY, ModelCard
from xrayviewer.inference.preprocess import MAX_INPUT_SIZE

log = logging.getLogger(__name__)

PROVIDERS = ("auto", "cuda", "cpu")
MAX_MODEL_BYTES = 512 * 1024 * 1024


class ModelError(Exception):
    """The model is missing, unreadable, or does not honour the contract."""


@dataclass(frozen=True)
class Prediction:
    probability: np.ndarray  # [N] calibrated
    cam: np.ndarray  # [N, h, w] calibrated logit contribution per location (mean == calibrated logit)
    embedding: np.ndarray | None = None  # [N, D] when the model exposes one


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _choose_providers(provider: str) -> tuple[list[str], str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider not in PROVIDERS:
        raise ModelError(f"unknown provider {provider!r}: choose one of {', '.join(PROVIDERS)}")
    if provider == "cpu":
        return ["CPUExecutionProvider"], "CPU"
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "CUDA"
    if provider == "cuda":
        raise ModelError(
            "CUDA was asked for but this onnxruntime has no CUDA provider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or use --provider cpu"
        )
    log.info("CUDA provider not available (%s); using CPU", ", ".join(available))
    return ["CPUExecutionProvider"], "CPU"


class Engine:
    """One onnxruntime session over a contract-checked model. Thread-safe for `run` calls.

    ``threads`` is onnxruntime's intra-op thread count (default: the cores, at most 4); batch scoring uses
    ``threads=1`` and runs several batches side by side instead (see :func:`score_films`).
    """

    def __init__(self, model_path: Path | str, provider: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        size = self.path.stat().st_size
        if size == 0 or size > MAX_MODEL_BYTES:
            raise ModelError(f"model file has an implausible size ({size} bytes): {self.path}")
        providers, label = _choose_providers(provider)
        opts = ort.SessionOptions()
        self.threads = max(1, threads or _default_threads())
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        # No busy-waiting between operators: the engine always shares the cores with film decoding (and
        # the GUI). Measured on 2 shared cores, spinning 2-thread pools cost 20-40% of scoring throughput.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load model {self.path.name}: not a valid ONNX model ({exc})") from exc
        used = self.session.get_providers()
        if label == "CUDA" and "CUDAExecutionProvider" not in used:
            if provider == "cuda":
                raise ModelError("CUDA provider failed to initialise; use --provider cpu")
            log.warning("CUDA provider failed to initialise; falling back to CPU")
            label = "CPU"
        self.provider = label
        # Says which provider actually ran (with --provider auto, CUDA or the CPU fallback): log file, -v.
        log.info("onnxruntime provider %s for %s (asked: %s; session: %s)", label, self.path.name, provider,
                 ", ".join(used))
        self.card = self._read_card()
        self._check_contract()
        # The operating threshold in force: the card's, or a site threshold a reader accepted (the CLI and
        # the app set it from the agreement log; see review/drift.py). The model file is never changed.
        self.threshold = self.card.threshold

    def _read_card(self) -> ModelCard:
        meta = self.session.get_modelmeta().custom_metadata_map
        text = meta.get(CARD_KEY)
        sidecar = self.path.with_suffix(".card.json")
        if text is None and sidecar.is_file():
            text = sidecar.read_text(encoding="utf-8")
        if text is None:
            raise ModelError(f"model {self.path.name} has no model card (metadata key '{CARD_KEY}')")
        try:
            return ModelCard.from_json(text)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"model {self.path.name} has an invalid model card: {exc}") from exc

    def _check_contract(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        name = self.path.name
        if set(inputs) != {"image"}:
            raise ModelError(f"model {name} must have one input named 'image', has {sorted(inputs)}")
        inp = inputs["image"]
        if inp.type != "tensor(float)" or len(inp.shape) != 4:
            raise ModelError(
                f"model {name}: input 'image' must be float32 [N,1,S,S], is {inp.type} {inp.shape}"
            )
        _, ch, h, w = inp.shape
        s = self.card.input_size
        if ch != 1 or h != s or w != s or not 8 <= s <= MAX_INPUT_SIZE:
            raise ModelError(
                f"model {name}: input shape {inp.shape} does not match [N,1,{s},{s}] from its model card"
            )
        for out, rank in (("probability", 1), ("cam", 3)):
            if out not in outputs:
                raise ModelError(f"model {name} lacks the '{out}' output")
            if outputs[out].type != "tensor(float)" or len(outputs[out].shape) != rank:
                raise ModelError(f"model {name}: output '{out}' must be float32 of rank {rank}")
        self.feature_names = sorted(n for n in outputs if n.startswith("feat_"))
        self.has_embedding = "embedding" in outputs and len(outputs["embedding"].shape) == 2

    @property
    def input_size(self) -> int:
        return self.card.input_size

    def run(self, images: np.ndarray) -> Prediction:
        """images: float32 [N, S, S] (or [N, 1, S, S]) from :func:`preprocess`."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        names = ["probability", "cam", *(["embedding"] if self.has_embedding else [])]
        outs = self.session.run(names, {"image": np.ascontiguousarray(x)})
        prob, cam = np.asarray(outs[0], np.float32).reshape(-1), np.asarray(outs[1], np.float32)
        t, b = self.card.temperature, self.card.bias
        if t != 1.0 or b != 0.0:
            # calibrate: the logit is the map's mean (exact CAM); z -> z / T + b applied per location keeps
            # the map exact (its mean is the calibrated logit)
            cam = cam / np.float32(t) + np.float32(b)
            prob = sigmoid(cam.reshape(len(cam), -1).mean(axis=1)).astype(np.float32)
        emb = np.asarray(outs[2], np.float32) if self.has_embedding else None
        return Prediction(prob, cam, emb)

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Convolution feature maps [C, h, w] at each depth the model exposes, for one film."""
        if not self.feature_names:
            return {}
        x = np.asarray(image, dtype=np.float32).reshape(1, 1, self.input_size, self.input_size)
        outs = self.session.run(self.feature_names, {"image": x})
        return {n: o[0] for n, o in zip(self.feature_names, outs, strict=True)}
