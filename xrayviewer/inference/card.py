"""The model card: what a bundled classifier is, how it was made, and where its threshold came from.

It travels inside the ONNX file (metadata key ``model_card``), so a model can never be separated from
its threshold. A ``<model>.card.json`` beside the file is a human-readable copy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from xrayviewer.inference.calibration import logit, sigmoid

CARD_KEY = "model_card"


@dataclass
class ModelCard:
    id: str
    input_size: int
    threshold: float
    threshold_rule: str
    architecture: str = ""
    val_metrics: dict[str, float] = field(default_factory=dict)
    data_manifest_sha256: str = ""
    training_command: str = ""
    seed: int = 0
    trained_at: str = ""
    training_seconds: float = 0.0
    hardware: str = ""
    cam: str = (
        "per-location logit contribution (final 1x1 classifier applied before global average pooling); "
        "its spatial mean is the logit, so the map is exact"
    )
    feature_outputs: list[str] = field(default_factory=list)
    training_data: str = (
        "Kermany et al. 2018 pediatric chest X-rays (Guangzhou Women and Children's Medical Center), "
        "CC BY 4.0, doi:10.17632/rscbjbr9sj.2"
    )
    intended_use: str = (
        "Triage assistant for pediatric (1-5 years) AP chest radiographs; not a diagnosis."
    )
    # Calibration: the engine divides the network's logit (and its map) by this temperature, fitted on
    # validation films, so probabilities mean what they say. 1.0 = uncalibrated (older models).
    temperature: float = 1.0
    bias: float = 0.0  # added to the logit after the temperature (Platt scaling); 0.0 = none
    calibration: dict[str, Any] = field(default_factory=dict)  # ECE before/after, reliability bins
    # [low, high] calibrated probabilities: calls inside this band are marked borderline. Empty = none.
    borderline: list[float] = field(default_factory=list)
    ood: dict[str, Any] = field(default_factory=dict)  # the scope gate's fitted detector (empty: none)
    orientation: dict[str, Any] = field(default_factory=dict)  # the gate's turned-film check (empty: none)
    limits: list[str] = field(default_factory=list)  # what the model must not be trusted with, for readers
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("model card is not a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        missing = {"id", "input_size", "threshold", "threshold_rule"} - data.keys()
        if missing:
            raise ValueError(f"model card lacks {', '.join(sorted(missing))}")
        extra = {k: v for k, v in data.items() if k not in known}
        card = cls(**{k: v for k, v in data.items() if k in known})
        card.extra.update(extra)
        if not 0.0 < float(card.threshold) < 1.0:
            raise ValueError(f"model card threshold {card.threshold} is not within (0, 1)")
        card.threshold = float(card.threshold)
        card.input_size = int(card.input_size)
        card.temperature = float(card.temperature)
        card.bias = float(card.bias)
        if not -20 <= card.bias <= 20:
            raise ValueError(f"model card calibration bias {card.bias} is implausible")
        if not 0.01 <= card.temperature <= 100:
            raise ValueError(f"model card temperature {card.temperature} is implausible")
        if card.borderline and not (len(card.borderline) == 2
                                    and 0.0 <= card.borderline[0] <= card.threshold <= card.borderline[1] <= 1.0):
            raise ValueError(f"model card borderline band {card.borderline} must surround the threshold")
        return card

    def is_borderline(self, probability: float, threshold: float | None = None) -> bool:
        """Inside the band of near-threshold calls (the band moves with a site threshold, same width in odds)."""
        if not self.borderline:
            return False
        lo, hi = self.borderline
        if threshold is not None and threshold != self.threshold:
            shift = float(logit(threshold) - logit(self.threshold))
            lo, hi = float(sigmoid(logit(lo) + shift)), float(sigmoid(logit(hi) + shift))
        return lo <= probability < hi

    def call(self, probability: float, threshold: float | None = None) -> str:
        """The model's call at its operating threshold (or at a site threshold that replaces it)."""
        return "PNEUMONIA" if probability >= (self.threshold if threshold is None else threshold) else "NORMAL"
