"""Batch augmentation on tensors: one affine warp per film plus intensity jitter.

Done as a single `affine_grid` + `grid_sample` over the batch, which costs little next to a training step
(per-film PIL transforms would cost as much as the step on 2 cores).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass
class AugmentConfig:
    rotation: float = 30.0  # degrees, uniform in [-rotation, rotation]
    zoom: float = 0.20  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.10  # fraction of the side, horizontally and vertically
    hflip: bool = True
    vflip: bool = False
    gamma: float = 0.35  # log-uniform gamma in [1/(1+g), 1+g]: exposure differences between machines
    contrast: float = 0.20
    brightness: float = 0.10
    noise: float = 0.02  # std of additive Gaussian noise
    blur: float = 0.5  # probability of a Gaussian blur: softer detectors, other scalers, motion
    blur_sigma: float = 1.5  # its sigma in input pixels, uniform in [0.3, blur_sigma]
    sharpen: float = 0.2  # probability of an unsharp mask: films post-processed by the vendor
    # Acquisition-style shifts (off by default so older runs reproduce): what another machine, year or
    # PACS export does to the same chest.
    equalize: float = 0.0  # probability of (partial) histogram equalisation: other vendors' processing
    lowres: float = 0.0  # probability of resolution loss: down by 1.5-3x, back up
    jpeg: float = 0.0  # probability of JPEG re-compression at quality 20-70
    border: float = 0.0  # probability of collimation / padding borders on 1-3 sides
    marker: float = 0.0  # probability of burnt-in markers (bright blocks like L/R letters and labels)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each film of x [N,1,S,S] with its own sigma [N] (separable, replicate padding)."""
    n = x.shape[0]
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t[None, :] / sigma.to(x.dtype)[:, None].clamp_min(1e-3)) ** 2)
    k = (k / k.sum(1, keepdim=True))[:, None]  # [N,1,K]
    y = x.transpose(0, 1)  # [1,N,S,S]: one channel per film, grouped convolution
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k[:, :, None, :], groups=n)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k[:, :, :, None], groups=n)
    return y.transpose(0, 1)


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: [N,1,S,S] in [0,1] -> augmented copy in [0,1]."""
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = u(-cfg.rotation, cfg.rotation) * math.pi / 180
    scale = u(1 - cfg.zoom, 1 + cfg.zoom)
    tx, ty = u(-cfg.shift, cfg.shift) * 2, u(-cfg.shift, cfg.shift) * 2  # normalised coords span 2
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.vflip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * fx, -sin * fy, tx], 1),
        torch.stack([sin * fx, cos * fy, ty], 1),
    ], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if cfg.blur > 0 and cfg.blur_sigma > 0:
        blurred = gaussian_blur(out, u(0.3, max(cfg.blur_sigma, 0.3)))
        pick = (torch.rand(n, generator=generator) < cfg.blur).view(n, 1, 1, 1)
        out = torch.where(pick, blurred, out)
    if cfg.sharpen > 0:
        amount = u(0.3, 1.0).view(n, 1, 1, 1)
        sharp = out + amount * (out - gaussian_blur(out, torch.full((n,), 1.0)))
        pick = (torch.rand(n, generator=generator) < cfg.sharpen).view(n, 1, 1, 1)
        out = torch.where(pick, sharp.clamp(0, 1), out)
    out = _acquisition(out.clamp(0, 1), cfg, generator)
    g = torch.exp(u(-math.log1p(cfg.gamma), math.log1p(cfg.gamma))).view(n, 1, 1, 1)
    out = out.clamp(0, 1) ** g
    c = u(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    b = u(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * c + mean + b
    if cfg.noise > 0:
        out = out + torch.randn(out.shape, generator=generator) * cfg.noise
    return out.clamp(0, 1)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each film of x [N,1,S,S]: every value becomes its rank (the empirical CDF)."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    ranks = torch.empty_like(flat)
    ranks.scatter_(1, flat.argsort(dim=1), torch.linspace(0, 1, flat.shape[1], dtype=x.dtype).expand(n, -1))
    return ranks.reshape(x.shape)


def _jpeg(film: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (film[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    back = np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255
    return torch.from_numpy(back).to(film.dtype)[None]


def _acquisition(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = x.shape

    def pick(p: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) < p

    def u(lo: float, hi: float, k: int = n) -> torch.Tensor:
        return torch.rand(k, generator=generator) * (hi - lo) + lo

    if cfg.equalize > 0:
        chosen = pick(cfg.equalize)
        if chosen.any():
            mix = u(0.3, 1.0).view(n, 1, 1, 1)
            x = torch.where(chosen.view(n, 1, 1, 1), mix * equalize(x) + (1 - mix) * x, x)
    if cfg.lowres > 0:
        for i in torch.nonzero(pick(cfg.lowres)).flatten().tolist():
            f = float(u(1.5, 3.0, 1))
            small = F.interpolate(x[i:i + 1], size=(max(8, int(h / f)), max(8, int(w / f))), mode="area")
            x[i:i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    if cfg.jpeg > 0:
        for i in torch.nonzero(pick(cfg.jpeg)).flatten().tolist():
            x[i] = _jpeg(x[i], int(u(20, 70, 1)))
    if cfg.border > 0:
        for i in torch.nonzero(pick(cfg.border)).flatten().tolist():
            # mostly dark padding, sometimes bright collimator shadow
            value = float(u(0.85, 1.0, 1)) if torch.rand(1, generator=generator) < 0.3 else float(u(0.0, 0.15, 1))
            sides = torch.randperm(4, generator=generator)[: int(torch.randint(1, 4, (1,), generator=generator))]
            for side in sides.tolist():
                k = int(u(0.03, 0.15, 1) * (h if side < 2 else w))
                if side == 0:
                    x[i, :, :k] = value
                elif side == 1:
                    x[i, :, h - k:] = value
                elif side == 2:
                    x[i, :, :, :k] = value
                else:
                    x[i, :, :, w - k:] = value
    if cfg.marker > 0:
        for i in torch.nonzero(pick(cfg.marker)).flatten().tolist():
            for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
                bh, bw = int(u(0.03, 0.08, 1) * h), int(u(0.03, 0.12, 1) * w)
                top, left = int(u(0, 1, 1) * (h - bh)), int(u(0, 1, 1) * (w - bw))
                block = x[i, :, top:top + bh, left:left + bw]
                # a letter-like glyph: a bright frame with a hollow, or a solid label block
                block[:] = float(u(0.8, 1.0, 1))
                if torch.rand(1, generator=generator) < 0.5 and bh > 4 and bw > 4:
                    block[:, bh // 4: -bh // 4 or None, bw // 3: -bw // 4 or None] = float(u(0.0, 0.3, 1))
    return x
