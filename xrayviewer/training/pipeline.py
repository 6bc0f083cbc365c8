"""One command from data to bundled model: train, choose the threshold on val, export, check parity."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from xrayviewer.inference.calibration import expected_calibration_error, fit_platt, reliability, sigmoid
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.operating_point import borderline_band, robust_threshold
from xrayviewer.training.cache import cached_images, exact_images
from xrayviewer.training.datasets import Dataset
from xrayviewer.training.export import export_onnx, hardware_description, load_ensemble, parity, utc_now
from xrayviewer.training.metrics import metrics_at, sensitivity_first_threshold
from xrayviewer.training.quantize import quantize_int8, write_card
from xrayviewer.training.train import TrainConfig, train

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    model_path: Path
    card: ModelCard
    parity: dict[str, float]


def member_dirs(run_dir: Path, members: int) -> list[Path]:
    return [run_dir] if members == 1 else [run_dir / f"member-{k}" for k in range(members)]


def run_pipeline(dataset: Dataset, cfg: TrainConfig, *, run_dir: Path, cache_dir: Path | None, out: Path,
                 model_id: str, min_sensitivity: float, command: str, resume: bool = False, members: int = 1,
                 only_member: int = -1, threshold_rule: str = "robust",
                 borderline_logit: float = 1.0, int8: bool = False) -> PipelineResult | None:
    """Train every member (or only `only_member`, then return None), assemble, calibrate, export."""
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
    bests = []
    for k, mdir in enumerate(member_dirs(run_dir, members)):
        if only_member >= 0 and k != only_member:
            continue
        bests.append(train(dataset, replace(cfg, seed=cfg.seed + k), mdir, cache_dir, resume=resume))
    if only_member >= 0:
        return None
    return assemble(dataset, cfg, bests, run_dir=run_dir, out=out, model_id=model_id, command=command,
                    min_sensitivity=min_sensitivity, threshold_rule=threshold_rule,
                    borderline_logit=borderline_logit, resumed_with=resumed_with, t0=t0, cache_dir=cache_dir,
                    int8=int8)


def _run_onnx(path: Path, images: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(raw logits [N], embeddings [N, D]) through onnxruntime: the runtime's own numbers."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, embs = [], []
    for i in range(0, len(images), batch):
        x = np.ascontiguousarray(images[i:i + batch].astype(np.float32)[:, None])
        cam, emb = sess.run(["cam", "embedding"], {"image": x})
        logits.append(cam.reshape(len(cam), -1).mean(axis=1))
        embs.append(emb)
    return np.concatenate(logits).astype(np.float64), np.concatenate(embs)


def assemble(dataset: Dataset, cfg: TrainConfig, bests: list[Path], *, run_dir: Path, out: Path, model_id: str,
             command: str, min_sensitivity: float, threshold_rule: str = "robust",
             borderline_logit: float = 1.0, resumed_with: str = "", t0: float = 0.0,
             cache_dir: Path | None = None, int8: bool = False) -> PipelineResult:
    """Members -> one ONNX model; temperature, threshold, borderline band and scope detector from val."""
    histories = [json.loads((b.parent / "history.json").read_text()) for b in bests
                 if (b.parent / "history.json").is_file()]
    seconds = sum(h["seconds"] for hist in histories for h in hist) or time.time() - t0
    net, states = load_ensemble(bests)
    val = dataset.split("val")
    xv, okv = exact_images(val, cfg.input_size)
    xv, yv = xv[okv], np.array([s.label for s in val])[okv]
    card = ModelCard(id=model_id, input_size=cfg.input_size, threshold=0.5, threshold_rule="provisional")
    path = export_onnx(net, card, out)
    float_logits = None
    if int8:
        float_logits, _ = _run_onnx(path, xv)
        xt, okt = cached_images(dataset.split("train"), cfg.input_size, cache_dir)
        pick = np.random.default_rng(cfg.seed).choice(np.flatnonzero(okt), size=min(256, int(okt.sum())),
                                                      replace=False)
        path = quantize_int8(path, path, xt[np.sort(pick)])
    raw_logits, val_emb = _run_onnx(path, xv)

    temperature, bias = fit_platt(yv, raw_logits)
    pv = sigmoid(raw_logits / temperature + bias)
    if threshold_rule == "robust":
        op = robust_threshold(yv, pv, target_sensitivity=min_sensitivity)
        threshold, rule = op.threshold, op.rule
    else:
        threshold = sensitivity_first_threshold(yv, pv, min_sensitivity)
        rule = f"highest threshold keeping validation sensitivity >= {min_sensitivity:.0%}"
    m = metrics_at(yv, pv, threshold)
    band = borderline_band(threshold, borderline_logit)
    in_band = float(np.mean((pv >= band[0]) & (pv < band[1])))
    epochs = [s["epoch"] for s in states]
    card = ModelCard(
        id=model_id,
        input_size=cfg.input_size,
        threshold=round(threshold, 6),
        threshold_rule=(f"{rule}; chosen on the patient-grouped val split ({m.n} films) on calibrated "
                        f"probabilities (missing pneumonia costs more than a false alarm)"),
        architecture=(f"{len(bests)} x {cfg.architecture}" if len(bests) > 1 else cfg.architecture)
        + f", {cfg.input_size} px grayscale input, GAP + linear (exact CAM)"
        + (", logits and maps averaged over members" if len(bests) > 1 else ""),
        val_metrics=m.as_dict(),
        data_manifest_sha256=dataset.sha256,
        training_command=command,
        seed=cfg.seed,
        trained_at=utc_now(),
        training_seconds=round(seconds, 1),
        hardware=hardware_description(),
        temperature=round(temperature, 6),
        bias=round(bias, 6),
        calibration={
            "method": "Platt scaling (logit / temperature + bias) fitted on the val split (NLL); probabilities "
                      "are calibrated to the val split's case mix (74 % pneumonia)",
            "val_ece_before": round(expected_calibration_error(yv, sigmoid(raw_logits)), 4),
            "val_ece_after": round(expected_calibration_error(yv, pv), 4),
            "reliability": reliability(yv, pv),
        },
        borderline=band,
        limits=MODEL_LIMITS,
        extra={"dataset": dataset.description, "dataset_summary": dataset.summary(), "members": len(bests),
               "member_seeds": [s["config"]["seed"] for s in states], "member_epochs": epochs,
               "selected_by": cfg.select, "val_borderline_fraction": round(in_band, 4),
               "epochs_run": len(histories[0]) if len(histories) == 1 else [len(h) for h in histories],
               "best_epoch": epochs[0] if len(epochs) == 1 else epochs,
               **({"resumed_with": resumed_with} if resumed_with else {})},
    )
    card.ood, card.orientation = _fit_scope(dataset, cfg.input_size, path, xv, val_emb, cache_dir)
    if float_logits is not None:
        card.extra["int8"] = {
            "quantisation": "onnxruntime static QDQ, int8 weights per channel, uint8 activations calibrated "
                            "on 256 training films; averaging and sigmoid in float",
            "val_max_abs_logit_change": round(float(np.abs(raw_logits - float_logits).max()), 4),
            "val_auc_float": round(float(metrics_at(yv, sigmoid(float_logits / temperature + bias),
                                                    threshold).auc), 4),
        }
        write_card(path, card)
        diffs = {"probability": float("nan"), "cam": float("nan")}  # an int8 graph is not torch's, see extra
    else:
        path = export_onnx(net, card, out)
        diffs = parity(net, path, xv[:32])
    (run_dir / "model_card.json").write_text(card.to_json() + "\n")
    log.info("exported %s; torch/onnxruntime max |diff| %s", path, diffs)
    return PipelineResult(path, card, diffs)


SCOPE_SEED = 0  # the scope checks' own draws (borders) are fixed, whatever the members' seeds


def _fit_scope(dataset: Dataset, size: int, path: Path, val_images: np.ndarray, val_emb: np.ndarray,
               cache_dir: Path | None) -> tuple[dict, dict]:
    """The scope gate's learnt parts, fitted on the training films' embeddings through the exported model:
    the out-of-distribution detector and the orientation check (films turned or mirrored top to bottom)."""
    from xrayviewer.scope.ood import fit_ood
    from xrayviewer.scope.orientation import TURNED, UPRIGHT, fit_orientation, masked_borders, variants

    xt, okt = cached_images(dataset.split("train"), size, cache_dir)
    xt = xt[okt]
    _, train_emb = _run_onnx(path, xt)
    ood = fit_ood(train_emb, val_emb, max_val_refusal=0.01).to_dict()
    # The orientation check learns "turned" against "upright" on the films as they are and with borders
    # (black shutters, white unexposed bands) on both sides, so neither a mirror image nor a border reads as
    # a turn. Upright: as is and mirrored left-right; turned: 90/180/270 degrees and mirrored top-bottom.
    rng = np.random.default_rng(SCOPE_SEED)
    upright, turned = [train_emb], []
    for framed in (xt, masked_borders(xt, rng, 0.0), masked_borders(xt, rng, 1.0)):
        if framed is not xt:
            upright.append(_run_onnx(path, framed)[1])
        upright.append(_run_onnx(path, np.ascontiguousarray(UPRIGHT["mirrored left-right"](framed)))[1])
        turned.append(_run_onnx(path, variants(framed, TURNED))[1])
    _, val_turned = _run_onnx(path, variants(val_images, TURNED))
    check = fit_orientation(np.concatenate(upright), np.concatenate(turned), val_upright=val_emb,
                            val_turned=val_turned,
                            about={"films": len(xt), "upright": ["as they are", "mirrored left-right",
                                                                 "with black or white borders (10-30 %)"]})
    log.info("scope: %s", check.describe())
    return ood, check.to_dict()


def refit_scope(dataset: Dataset, model: Path, *, cache_dir: Path | None = None, command: str = "") -> ModelCard:
    """Fit the scope gate's learnt parts again for an exported model and write them into its card.

    For a model exported before a scope check existed: the weights stay as they are (the model's own
    training command still reproduces everything, checks included); the card records this refit.
    """
    from xrayviewer.inference.engine import Engine, ModelError

    engine = Engine(model, "cpu")
    if not engine.has_embedding:
        raise ModelError(f"{Path(model).name} has no 'embedding' output, which the scope checks read (it was "
                         "exported before they existed): train it again with this version to get them")
    card = engine.card
    xv, okv = exact_images(dataset.split("val"), card.input_size)
    _, val_emb = _run_onnx(model, xv[okv])
    card.ood, card.orientation = _fit_scope(dataset, card.input_size, model, xv[okv], val_emb, cache_dir)
    card.extra["scope_refit"] = {"at": utc_now(), "command": command,
                                 "data_manifest_sha256": dataset.sha256}
    write_card(model, card)
    return card


MODEL_LIMITS = [
    "Trained on pediatric (1-5 years) AP chest films from one hospital (Guangzhou); adults, lateral views "
    "and other hospitals' films are outside what it has seen.",
    "Only NORMAL vs PNEUMONIA: effusion, pneumothorax, masses, lines and tubes are not recognised.",
    "Validation figures come from the same hospital and labelling as the training films; expect more false "
    "alarms on new films.",
    "The heat map shows where the network's evidence lies, not a segmentation of the consolidation.",
    "The threshold favours sensitivity: it triages, it never clears a film.",
]
