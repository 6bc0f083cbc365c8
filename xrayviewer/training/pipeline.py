"""One command from data to bundled model: train, choose the threshold on val, export, check parity."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrayviewer.inference.card import ModelCard
from xrayviewer.training.cache import exact_images
from xrayviewer.training.datasets import Dataset
from xrayviewer.training.export import export_onnx, hardware_description, load_checkpoint, parity, utc_now
from xrayviewer.training.metrics import metrics_at, sensitivity_first_threshold
from xrayviewer.training.train import TrainConfig, predict, train

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    model_path: Path
    card: ModelCard
    parity: dict[str, float]


def run_pipeline(dataset: Dataset, cfg: TrainConfig, *, run_dir: Path, cache_dir: Path | None, out: Path,
                 model_id: str, min_sensitivity: float, command: str, resume: bool = False) -> PipelineResult:
    t0 = time.time()
    # The card names the command that reproduces the run from scratch, even when it was resumed.
    first = run_dir / "command.txt"
    if resume and first.is_file():
        original = first.read_text(encoding="utf-8").strip()
        resumed_with, command = command, original
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        first.write_text(command + "\n", encoding="utf-8")
        resumed_with = ""
    best = train(dataset, cfg, run_dir, cache_dir, resume=resume)
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").is_file() else []
    seconds = sum(h["seconds"] for h in history) or time.time() - t0
    net, state = load_checkpoint(best)
    val = dataset.split("val")
    xv, okv = exact_images(val, cfg.input_size)
    yv = np.array([s.label for s in val])[okv]
    pv = predict(net, xv[okv])
    threshold = sensitivity_first_threshold(yv, pv, min_sensitivity)
    m = metrics_at(yv, pv, threshold)
    card = ModelCard(
        id=model_id,
        input_size=cfg.input_size,
        threshold=round(threshold, 6),
        threshold_rule=(f"highest threshold keeping validation sensitivity >= {min_sensitivity:.0%} "
                        f"(missing pneumonia costs more than a false alarm); chosen on the patient-grouped "
                        f"val split ({m.n} films), epoch {state['epoch']} checkpoint (best val AUC)"),
        architecture=f"{cfg.architecture}, {cfg.input_size} px grayscale input, GAP + linear (exact CAM)",
        val_metrics=m.as_dict(),
        data_manifest_sha256=dataset.sha256,
        training_command=command,
        seed=cfg.seed,
        trained_at=utc_now(),
        training_seconds=round(seconds, 1),
        hardware=hardware_description(),
        extra={"dataset": dataset.description, "dataset_summary": dataset.summary(),
               "epochs_run": len(history), "best_epoch": state["epoch"],
               **({"resumed_with": resumed_with} if resumed_with else {})},
    )
    path = export_onnx(net, card, out)
    diffs = parity(net, path, xv[okv][:32])
    (run_dir / "model_card.json").write_text(card.to_json() + "\n")
    log.info("exported %s; torch/onnxruntime max |diff| %s", path, diffs)
    return PipelineResult(path, card, diffs)
