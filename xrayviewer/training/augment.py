"""Batch augmentation on tensors: one affine warp per film plus intensity jitter.

Done as a single `affine_grid` + `grid_sample` over the batch, which costs little next to a training step
(per-film PIL transforms would cost as much as the step on 2 cores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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
    g = torch.exp(u(-math.log1p(cfg.gamma), math.log1p(cfg.gamma))).view(n, 1, 1, 1)
    out = out.clamp(0, 1) ** g
    c = u(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    b = u(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * c + mean + b
    if cfg.noise > 0:
        out = out + torch.randn(out.shape, generator=generator) * cfg.noise
    return out.clamp(0, 1)
