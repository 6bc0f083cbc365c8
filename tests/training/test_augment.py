import numpy as np
import torch

from xrayviewer.inference.preprocess import preprocess
from xrayviewer.training.augment import AugmentConfig, augment

from .conftest import SAMPLES


def _film(size=96):
    from PIL import Image

    img = np.asarray(Image.open(next(SAMPLES.glob("NORMAL2*.jpeg"))).convert("L"))
    return torch.from_numpy(preprocess(img, size))[None, None]


def test_augment_is_seeded_bounded_and_changes_films():
    x = _film().repeat(4, 1, 1, 1)
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a[0], a[1])


def test_no_op_config_returns_the_film():
    x = _film()
    off = AugmentConfig(rotation=0, zoom=0, shift=0, hflip=False, gamma=0, contrast=0, brightness=0,
                        noise=0, blur=0, sharpen=0)
    assert torch.allclose(augment(x, off), x, atol=1e-5)


def test_horizontal_flip_mirrors_the_film():
    x = _film()
    flip = AugmentConfig(rotation=0, zoom=0, shift=0, hflip=True, gamma=0, contrast=0, brightness=0,
                         noise=0, blur=0, sharpen=0)
    gen = torch.Generator().manual_seed(0)
    outs = [augment(x, flip, gen) for _ in range(8)]
    assert any(torch.allclose(o, torch.flip(x, dims=[3]), atol=1e-5) for o in outs)
    assert any(torch.allclose(o, x, atol=1e-5) for o in outs)


def test_gaussian_blur_matches_pillow_and_keeps_brightness():
    from PIL import Image, ImageFilter

    from xrayviewer.training.augment import gaussian_blur

    x = _film(96)
    out = gaussian_blur(x.repeat(2, 1, 1, 1), torch.tensor([0.5, 2.0]))
    assert out.shape == (2, 1, 96, 96)
    assert abs(float(out.mean()) - float(x.mean())) < 0.01
    ref = Image.fromarray((x[0, 0].numpy() * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.0))
    ref = torch.from_numpy(np.asarray(ref, np.float32) / 255)
    inner = (slice(8, -8), slice(8, -8))
    assert float((out[1, 0][inner] - ref[inner]).abs().mean()) < 0.01
    assert float(out[1].std()) < float(out[0].std()) < float(x.std()) + 1e-6
