"""The training loop: class-balanced loss, AdamW + cosine schedule, early stopping on validation AUC.

Everything a run does is in its folder: `config.json`, `log.csv` / `history.json` (one row per epoch),
`last.pt` (to resume) and `best.pt` (the checkpoint with the best validation AUC).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from xrayviewer.training.augment import AugmentConfig, augment
from xrayviewer.training.cache import cached_images
from xrayviewer.training.datasets import Dataset
from xrayviewer.training.metrics import metrics_at, safe_auc
from xrayviewer.training.networks import build_network

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    architecture: str = "efficientnet-lite0"
    input_size: int = 192
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    patience: int = 3  # epochs without a better val AUC before stopping
    seed: int = 42
    pretrained: bool = True
    threads: int = 0  # 0: torch's default
    max_batches: int = 0  # per epoch, 0 = all (tiny CI runs)
    max_minutes: float = 0.0  # stop after the epoch that crosses this budget, 0 = none
    # Gentle fine-tuning, to stay near the pretrained features (which carry over to new films better):
    lp_epochs: int = 0  # first epochs train the head only (linear probe), backbone and its BN frozen
    backbone_lr: float = 0.0  # backbone learning rate when > 0 (the head keeps `lr`)
    ema: float = 0.0  # decay of an exponential moving average of the weights; evaluated and exported
    mixup: float = 0.0  # Beta(a, a) mixup of film pairs and their targets, 0 = off
    select: str = "auc"  # checkpoint kept: best val "auc", lowest class-weighted val "loss", or "last"
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class EpochRow:
    epoch: int
    train_loss: float
    val_loss: float
    val_auc: float
    val_accuracy: float
    val_sensitivity: float
    val_specificity: float
    lr: float
    seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-class weights n / (2 n_c): both classes weigh the same in the loss despite 2.7:1 imbalance."""
    n, pos = len(labels), float(labels.sum())
    return torch.tensor([n / (2 * max(n - pos, 1)), n / (2 * max(pos, 1))], dtype=torch.float32)


def _loss(logit: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, smoothing: float) -> torch.Tensor:
    target = y * (1 - smoothing) + 0.5 * smoothing
    w = weights[y.long()]
    return (F.binary_cross_entropy_with_logits(logit, target, reduction="none") * w).sum() / w.sum()


@torch.no_grad()
def predict(net: torch.nn.Module, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    net.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(images[i:i + batch_size].astype(np.float32))[:, None]
        out.append(torch.sigmoid(net(x.contiguous(memory_format=torch.channels_last))[0]).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train(dataset: Dataset, cfg: TrainConfig, run_dir: Path, cache_dir: Path | None,
          resume: bool = False) -> Path:
    """Train and return the path of the best checkpoint."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    train_s, val_s = dataset.split("train"), dataset.split("val")
    if not train_s or not val_s:
        raise ValueError(f"need train and val films, have {len(train_s)} and {len(val_s)}")
    xt, okt = cached_images(train_s, cfg.input_size, cache_dir)
    xv, okv = cached_images(val_s, cfg.input_size, cache_dir)
    yt = np.array([s.label for s in train_s], np.float32)[okt]
    yv = np.array([s.label for s in val_s], np.float32)[okv]
    xt, xv = xt[okt], xv[okv]
    log.info("training on %d films, validating on %d", len(xt), len(xv))

    net = build_network(cfg.architecture, cfg.input_size, pretrained=cfg.pretrained)
    net = net.to(memory_format=torch.channels_last)
    head, backbone = _param_groups(net)
    opt = torch.optim.AdamW([{"params": backbone, "lr": cfg.backbone_lr or cfg.lr},
                             {"params": head, "lr": cfg.lr}], weight_decay=cfg.weight_decay)
    ema = (torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(
        cfg.ema), use_buffers=True) if cfg.ema else None)
    steps_per_epoch = math.ceil(len(xt) / cfg.batch_size)
    if cfg.max_batches:
        steps_per_epoch = min(steps_per_epoch, cfg.max_batches)
    total = steps_per_epoch * cfg.epochs
    warmup = min(steps_per_epoch, max(total // 10, 1))

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    weights = class_weights(yt)
    gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, best_auc, stale, history = 0, -math.inf, 0, []
    last, best = run_dir / "last.pt", run_dir / "best.pt"
    if resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        net.load_state_dict(state["model"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        start_epoch, best_auc, stale, history = state["epoch"], state["best_auc"], state["stale"], state["history"]
        log.info("resumed from %s after epoch %d (best val %s %.4f)", last, start_epoch, cfg.select, best_auc)
        if stale >= cfg.patience:  # the run had already stopped early: nothing left to train
            start_epoch = cfg.epochs
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    started = time.time()

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        probing = epoch < cfg.lp_epochs
        _set_phase(net, probing)
        order = torch.randperm(len(xt), generator=gen).numpy()
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = torch.from_numpy(xt[idx].astype(np.float32))[:, None]
            x = augment(x, cfg.augment, gen).contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(yt[idx])
            if cfg.mixup > 0:
                lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=gen))).beta(
                    cfg.mixup, cfg.mixup))
                perm = torch.randperm(len(idx), generator=gen)
                x = lam * x + (1 - lam) * x[perm]
                logit, _ = net(x)
                loss = (lam * _loss(logit, y, weights, cfg.label_smoothing)
                        + (1 - lam) * _loss(logit, y[perm], weights, cfg.label_smoothing))
            else:
                logit, _ = net(x)
                loss = _loss(logit, y, weights, cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(net)
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        judged = ema.module if ema is not None else net
        pv = predict(judged, xv)
        with torch.no_grad():
            val_loss = float(_loss(torch.logit(torch.from_numpy(pv).clamp(1e-6, 1 - 1e-6)), torch.from_numpy(yv),
                                   weights, 0.0))
        m = metrics_at(yv, pv, 0.5)
        row = EpochRow(epoch + 1, float(np.mean(losses)), val_loss, safe_auc(yv, pv), m.accuracy,
                       m.sensitivity, m.specificity, float(sched.get_last_lr()[0]), time.time() - t0)
        history.append(asdict(row))
        score = {"auc": row.val_auc, "loss": -row.val_loss, "last": float(epoch)}[cfg.select]
        improved = score > best_auc + 1e-5 or best_auc == -math.inf
        if probing and epoch + 1 < cfg.lp_epochs:
            improved = False  # a head-only checkpoint is never the one we keep
        if improved:
            best_auc, stale = score, 0
            torch.save({"model": judged.state_dict(), "config": asdict(cfg), "epoch": epoch + 1,
                        "val_auc": row.val_auc, "val_loss": row.val_loss}, best)
        else:
            stale += 1
        torch.save({"model": net.state_dict(), **({"ema": ema.state_dict()} if ema is not None else {}),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "epoch": epoch + 1, "best_auc": best_auc, "stale": stale,
                    "history": history}, last)
        _write_log(run_dir, history)
        tqdm.write(f"epoch {row.epoch}: loss {row.train_loss:.4f}  val loss {row.val_loss:.4f}  "
                   f"val AUC {row.val_auc:.4f}  acc {row.val_accuracy:.3f}  sens {row.val_sensitivity:.3f}  "
                   f"spec {row.val_specificity:.3f}  ({row.seconds:.0f} s){'  *best*' if improved else ''}")
        if stale >= cfg.patience and not probing:
            tqdm.write(f"early stop: no better val {cfg.select} for {stale} epochs")
            break
        if cfg.max_minutes and (time.time() - started) / 60 > cfg.max_minutes:
            tqdm.write(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
    return best


def _param_groups(net: torch.nn.Module) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(head, backbone) parameters: the head is the final CAM unit, the backbone everything else."""
    head = getattr(net, "head", None)
    head_ids = {id(p) for p in head.parameters()} if isinstance(head, torch.nn.Module) else set()
    params = list(net.parameters())
    return [p for p in params if id(p) in head_ids], [p for p in params if id(p) not in head_ids]


def _set_phase(net: torch.nn.Module, probing: bool) -> None:
    """Train mode; while probing, the backbone (weights and BN statistics) stays frozen."""
    net.train()
    head, backbone = _param_groups(net)
    for p in backbone:
        p.requires_grad_(not probing)
    if probing:
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def _write_log(run_dir: Path, history: list[dict]) -> None:
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    with (run_dir / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
