"""Orientation check on the model's own embedding: is the film the right way up? (numpy only)

The OOD detector does not refuse an upside-down film: training flips and rotates films a little, so to the
network's pooled features a film turned half round still looks like a chest film, and the model would judge
it. This check is a linear classifier the training pipeline fits between the training films as they come
(and mirrored left-right: in the augmentation, and some departments show films that way) and the same films
turned a quarter, a half or three quarters round, or mirrored top to bottom; both sides also with black or
white borders (shutters, unexposed bands), so a border does not read as a turn. Logistic regression on the
standardised embedding's top principal components (fitted on both sides together), folded back into one
weight per embedding value: the card carries a weight vector, a bias and a cut-off.

Score: the logit that the film is turned; refused where it is above the cut-off (0, even odds: the fit
weighs both sides equally). The fit reports how many validation films it would refuse either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ood import _decode, _encode, _json_safe

METHOD = "linear-logistic-turned-vs-upright"
FORMAT_VERSION = 1
DEFAULT_COMPONENTS = 32
DEFAULT_RIDGE = 1.0
REASON = "film appears turned or upside down"

# Square model inputs [..., S, S]: how each variant looks (a turned film resized to the square is the square
# image turned, so the training pipeline turns its cached inputs instead of decoding films again).
UPRIGHT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as is": lambda a: a,
    "mirrored left-right": lambda a: a[..., ::-1],
}
TURNED: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mirrored top-bottom": lambda a: a[..., ::-1, :],
    "turned 90 degrees": lambda a: np.rot90(a, 1, axes=(-2, -1)),
    "turned 180 degrees": lambda a: np.rot90(a, 2, axes=(-2, -1)),
    "turned 270 degrees": lambda a: np.rot90(a, 3, axes=(-2, -1)),
}


@dataclass(frozen=True)
class OrientationCheck:
    """A fitted check: ``score(emb)`` per film (logit of "turned"), refuse where ``score > cutoff``."""

    weights: np.ndarray  # [D]
    bias: float
    cutoff: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # n_train, validation refusal rates per variant

    @property
    def dim(self) -> int:
        return int(self.weights.shape[0])

    def score(self, emb: np.ndarray) -> np.ndarray:
        """Logit that each film is turned, [N] float64; NaN embeddings score +inf (refused)."""
        x = np.asarray(emb, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"embedding must be [N, {self.dim}], got {list(x.shape)}")
        s = x @ self.weights + self.bias
        return np.where(np.isfinite(s), s, np.inf)

    def refuses(self, emb: np.ndarray) -> np.ndarray:
        return self.score(emb) > self.cutoff

    def describe(self) -> str:
        """One line for the model card dialog and the report."""
        up, turned = self.info.get("val_upright_refused"), self.info.get("val_turned_refused")
        val = ""
        if up is not None and turned is not None:
            val = (f"; on {self.info.get('n_val', '?')} validation films it refuses {up:.1%} as they are and "
                   f"{turned:.1%} turned")
        films = self.info.get("films")
        fitted = (f"{films} training films upright ({self.info.get('n_train', '?')} inputs: "
                  f"{', '.join(self.info.get('upright', []))}) and turned ({self.info.get('n_train_turned', '?')})"
                  if films else f"{self.info.get('n_train', '?')} upright training films and their turned copies")
        return f"orientation check ({METHOD}, {self.info.get('components', '?')} components, fitted on {fitted}){val}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``ModelCard.orientation``."""
        return {"method": METHOD, "version": FORMAT_VERSION, "dim": self.dim, "bias": float(self.bias),
                "cutoff": float(self.cutoff), "weights": _encode(self.weights, "<f4"),
                "info": _json_safe(self.info)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrientationCheck:
        """Inverse of ``to_dict``; ValueError with a readable message for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("orientation check is not a JSON object")
        if data.get("method") != METHOD or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown orientation check {data.get('method')!r} version {data.get('version')!r} "
                             f"(this version reads {METHOD!r} version {FORMAT_VERSION})")
        try:
            dim = int(data["dim"])
            weights = _decode(data["weights"], "<f4", (dim,), "orientation check").astype(np.float64)
            bias, cutoff = float(data["bias"]), float(data["cutoff"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"orientation check lacks or garbles {exc}") from exc
        if not (math.isfinite(bias) and math.isfinite(cutoff)) or not np.all(np.isfinite(weights)):
            raise ValueError("orientation check has non-finite weights, bias or cut-off")
        raw_info = data.get("info")
        return cls(weights, bias, cutoff, dict(raw_info) if isinstance(raw_info, dict) else {})


def describe_orientation(data: dict[str, Any] | None) -> str:
    """A card's ``orientation`` entry in one line for people; never raises."""
    if not data:
        return "none: this model has no orientation check (a turned or upside-down film is judged)"
    try:
        return OrientationCheck.from_dict(data).describe()
    except ValueError as exc:
        return f"unreadable ({exc})"


def masked_borders(images: np.ndarray, rng: np.random.Generator, fill: float, low: float = 0.1,
                   high: float = 0.3) -> np.ndarray:
    """Each square input [N, S, S] with its outer band (a random ``low``-``high`` share of its side) set to
    ``fill``: collimation or shutters cutting into the chest, black (0) or unexposed white (1). The fit sees
    them on both sides, upright and turned: fitted without them, the check refused 24 % of val films whose
    outer 20 % was blacked out (the OOD score 8 %), mistaking a border for a turn."""
    out = np.array(images, copy=True)
    side = images.shape[-1]
    for i, frac in enumerate(rng.uniform(low, high, len(images))):
        k = max(1, int(frac * side))
        out[i, :k], out[i, -k:], out[i, :, :k], out[i, :, -k:] = fill, fill, fill, fill
    return out


def variants(images: np.ndarray, kinds: dict[str, Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    """Every image in every variant of ``kinds``, stacked variant by variant (contiguous, same dtype)."""
    return np.ascontiguousarray(np.concatenate([fn(images) for fn in kinds.values()]))


def fit_orientation(upright: np.ndarray, turned: np.ndarray, *, val_upright: np.ndarray | None = None,
                    val_turned: np.ndarray | None = None, components: int = DEFAULT_COMPONENTS,
                    ridge: float = DEFAULT_RIDGE, cutoff: float = 0.0,
                    about: dict[str, Any] | None = None) -> OrientationCheck:
    """Fit on embeddings [N, D] of upright and turned films; validation embeddings only report rates.

    Both sides are weighed equally whatever their counts, so the cut-off 0 is the even-odds boundary.
    ``components`` is capped by the data; ``ridge`` is the L2 penalty on the component weights. ``about``
    goes into ``info`` as it is (e.g. ``films``: how many distinct films the inputs came from, and
    ``upright``: the kinds of upright input, for ``describe``).
    """
    up, tu = _matrix(upright, "upright"), _matrix(turned, "turned")
    if up.shape[1] != tu.shape[1]:
        raise ValueError(f"upright and turned embeddings differ in width: {up.shape[1]} vs {tu.shape[1]}")
    if min(len(up), len(tu)) < 2:
        raise ValueError("need at least 2 upright and 2 turned embeddings to fit")
    if components < 1 or ridge < 0:
        raise ValueError("components must be >= 1 and ridge >= 0")
    # float32 and standardised in place: the pipeline fits on ~84,000 embeddings 3,840 wide (1.3 GB as one
    # float32 copy; float64 copies of it would take four times that)
    z = np.concatenate([up, tu]).astype(np.float32, copy=False)
    y = np.r_[np.zeros(len(up)), np.ones(len(tu))]
    sample_weight = np.where(y == 1, 0.5 * len(y) / len(tu), 0.5 * len(y) / len(up))
    mean, scale = z.mean(axis=0, dtype=np.float64), z.std(axis=0, dtype=np.float64) + 1e-6
    z -= mean.astype(np.float32)
    z /= scale.astype(np.float32)
    k = int(min(components, z.shape[0] - 1, z.shape[1]))
    axes = np.linalg.svd(z[:: max(1, len(z) // 20000)], full_matrices=False)[2][:k]  # [k, D]
    feats = np.c_[(z @ axes.T.astype(np.float32)).astype(np.float64), np.ones(len(z))]
    beta = _logistic_newton(feats, y, sample_weight, ridge)
    weights = (axes.T @ beta[:k]) / scale  # folded back: score = emb @ weights + bias
    bias = float(beta[k] - mean @ weights)
    check = OrientationCheck(weights.astype(np.float32).astype(np.float64), bias, cutoff)
    info: dict[str, Any] = {**(about or {}), "n_train": len(up), "n_train_turned": len(tu), "components": k,
                            "ridge": ridge,
                            "train_upright_refused": float(np.mean(check.refuses(up))),
                            "train_turned_refused": float(np.mean(check.refuses(tu)))}
    if val_upright is not None and val_turned is not None:
        vu, vt = _matrix(val_upright, "val_upright"), _matrix(val_turned, "val_turned")
        info.update(n_val=len(vu), val_upright_refused=float(np.mean(check.refuses(vu))),
                    val_turned_refused=float(np.mean(check.refuses(vt))))
    return OrientationCheck(check.weights, bias, cutoff, info)


def _logistic_newton(feats: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, ridge: float,
                     steps: int = 50) -> np.ndarray:
    """Weighted, L2-penalised logistic regression by Newton's method (the last column is an unpenalised
    intercept); a few dozen [k x k] solves, deterministic."""
    n_feat = feats.shape[1]
    penalty = ridge * np.diag(np.r_[np.ones(n_feat - 1), 0.0])
    beta = np.zeros(n_feat)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(feats @ beta, -40, 40)))
        grad = feats.T @ (sample_weight * (p - y)) + penalty @ beta
        hess = (feats * (sample_weight * p * (1 - p))[:, None]).T @ feats + penalty + 1e-9 * np.eye(n_feat)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _matrix(a: np.ndarray, name: str) -> np.ndarray:
    m = np.asarray(a, dtype=np.float32)  # embeddings are float32; the fit keeps them so
    if m.ndim != 2 or not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be a finite [N, D] matrix, got shape {list(m.shape)}")
    return m
