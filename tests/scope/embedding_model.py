"""A tiny contract model with an ``embedding`` output, a fitted OOD detector and orientation check in its card.

The embedding is the film's 8 x 8 block-averaged brightness (64 numbers): crude, but chest films share a
layout (dark lungs either side of a bright mediastinum) that photographs, pages and textures do not.
The detector is fitted by the real ``fit_ood`` on the bundled sample films, lightly varied; the orientation
check by the real ``fit_orientation`` on the same films against their turned copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from PIL import Image

from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.films import load_film
from xrayviewer.inference.card import CARD_KEY, ModelCard
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.paths import samples_dir
from xrayviewer.scope import OodDetector, fit_ood, fit_orientation
from xrayviewer.scope.orientation import TURNED

SIZE = 64


def _variants(image: np.ndarray, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Small exposure, shift and flip changes, like films from one department."""
    out = []
    for _ in range(n):
        x = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
        dy, dx = rng.integers(-3, 4, size=2)
        x = np.roll(x, (dy, dx), axis=(0, 1))
        if rng.random() < 0.5:
            x = x[:, ::-1]
        out.append(np.ascontiguousarray(x, dtype=np.float32))
    return out


def embed(model: Path, images: list[np.ndarray]) -> np.ndarray:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = np.stack(images)[:, None].astype(np.float32)
    return np.asarray(sess.run(["embedding"], {"image": x})[0])


def build_embedding_model(path: Path) -> tuple[Path, OodDetector]:
    build_tiny_model(path, size=SIZE)
    model = onnx.load(str(path))
    g = model.graph
    g.initializer.append(onnx.numpy_helper.from_array(np.array([0, -1], np.int64), "emb_shape"))
    g.node.append(helper.make_node("Reshape", ["pooled", "emb_shape"], ["embedding"]))
    g.output.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 64]))
    onnx.save(model, str(path))

    films = [preprocess(load_film(p).pixels, SIZE) for p in sorted(samples_dir().glob("*.jpeg"))]
    rng = np.random.default_rng(0)
    train = embed(path, [v for f in films for v in _variants(f, rng, 12)])
    val = embed(path, [v for f in films for v in _variants(f, rng, 6)])
    detector = fit_ood(train, val, max_val_refusal=0.01, components=16, margin=1.2)
    upright = [v for f in films for v in _variants(f, rng, 12)]
    turned = [np.ascontiguousarray(fn(v)) for v in upright for fn in TURNED.values()]
    orientation = fit_orientation(embed(path, upright), embed(path, turned), components=16)

    card = ModelCard(id="tiny-embedding-model", input_size=SIZE, threshold=0.5, threshold_rule="fixed for tests",
                     architecture="brightness pooling (test only)")
    card.ood = detector.to_dict()
    card.orientation = orientation.to_dict()
    model = onnx.load(str(path))
    helper.set_model_props(model, {CARD_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path, detector


def grey_photo(name: str, size: tuple[int, int] = (400, 300)) -> np.ndarray:
    from skimage import data

    img = np.asarray(getattr(data, name)())
    return np.asarray(Image.fromarray(img).convert("L").resize(size))
