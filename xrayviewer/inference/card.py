"""The model card: what a bundled classifier is, how it was made, and where its threshold came from.

It travels inside the ONNX file (metadata key ``model_card``), so a model can never be separated from
its threshold. A ``<model>.card.json`` beside the file is a human-readable copy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

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
        return card

    def call(self, probability: float) -> str:
        """The model's call at its operating threshold."""
        return "PNEUMONIA" if probability >= self.threshold else "NORMAL"
