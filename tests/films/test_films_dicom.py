"""DICOM decoding: every transfer syntax we can write, checked against the real film it was made from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom import uid
from pydicom.pixels import get_encoder

from xrayviewer.films import FilmError, load_film

from .jpeg_lossless import encode_lossless_sv1
from .testkit import correlation, encapsulate_frames, jpeg_bytes, make_dataset, save


@dataclass
class Case:
    path: Path
    reference: np.ndarray  # what the display should look like (brighter = denser)
    modality: np.ndarray | None = None  # exact modality values expected (lossless cases)
    note: str | None = None


Builder = Callable[[np.ndarray, np.ndarray, Path], Case]
CASES: dict[str, Builder] = {}


def case(fn: Builder) -> Builder:
    CASES[fn.__name__] = fn
    return fn


def _needs_encoder(tsyntax: str) -> None:
    if not get_encoder(tsyntax).is_available:
        pytest.skip(f"no {uid.UID(tsyntax).name} encoder installed (pyjpegls)")


@case
def explicit_le_8bit(src8, src12, d):
    return Case(save(make_dataset(src8), d / "explicit8.dcm", uid.ExplicitVRLittleEndian), src8, src8)


@case
def implicit_le_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    return Case(save(ds, d / "implicit12.dcm", uid.ImplicitVRLittleEndian), src8, src12)


@case
def deflated_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    return Case(save(ds, d / "deflated.dcm", uid.DeflatedExplicitVRLittleEndian), src8, src12)


@case
def rle_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    ds.compress(uid.RLELossless)
    return Case(save(ds, d / "rle.dcm"), src8, src12)


@case
def jpeg_baseline_8bit(src8, src12, d):
    ds = encapsulate_frames(make_dataset(src8), [jpeg_bytes(src8)], uid.JPEGBaseline8Bit)
    return Case(save(ds, d / "jpeg.dcm"), src8)


@case
def j2k_lossless_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    ds.compress(uid.JPEG2000Lossless)
    return Case(save(ds, d / "j2k_lossless.dcm"), src8, src12)


@case
def j2k_lossy_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    ds.compress(uid.JPEG2000, j2k_cr=[20])
    return Case(save(ds, d / "j2k_lossy.dcm"), src8)


@case
def jpegls_lossless_12in16(src8, src12, d):
    _needs_encoder(uid.JPEGLSLossless)
    ds = make_dataset(src12, bits_stored=12)
    ds.compress(uid.JPEGLSLossless)
    return Case(save(ds, d / "jpegls.dcm"), src8, src12)


@case
def jpegls_near_lossless_8bit(src8, src12, d):
    _needs_encoder(uid.JPEGLSNearLossless)
    ds = make_dataset(src8)
    ds.compress(uid.JPEGLSNearLossless, jls_error=3)
    return Case(save(ds, d / "jpegls_near.dcm"), src8)


@case
def jpeg_lossless_sv1_12in16(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    encapsulate_frames(ds, [encode_lossless_sv1(src12, 12)], uid.JPEGLosslessSV1)
    return Case(save(ds, d / "jpeg_ll_sv1.dcm"), src8, src12)


@case
def jpeg_lossless_p14_8bit(src8, src12, d):
    ds = encapsulate_frames(make_dataset(src8), [encode_lossless_sv1(src8, 8)], uid.JPEGLossless)
    return Case(save(ds, d / "jpeg_ll.dcm"), src8, src8)


@case
def monochrome1(src8, src12, d):
    inverted = 255 - src8
    ds = make_dataset(inverted, photometric="MONOCHROME1")
    return Case(save(ds, d / "mono1.dcm"), src8, inverted)


@case
def signed_12bit_rescaled(src8, src12, d):
    stored = src12.astype(np.int16) - 2048  # -2048..2047 in 12 bits
    ds = make_dataset(stored, bits_stored=12, RescaleSlope=0.5, RescaleIntercept=100)
    modality = stored.astype(np.float32) * 0.5 + 100
    return Case(save(ds, d / "signed.dcm", uid.ExplicitVRLittleEndian), src8, modality)


@case
def multiframe_native(src8, src12, d):
    frames = np.stack([src8, 255 - src8, np.zeros_like(src8)])
    ds = make_dataset(frames, frames=3)
    return Case(save(ds, d / "multiframe.dcm"), src8, src8, note="multi-frame DICOM: showing frame 1 of 3")


@case
def multiframe_j2k(src8, src12, d):
    frames = np.stack([src12, 4095 - src12])
    ds = make_dataset(frames, frames=2, bits_stored=12)
    ds.compress(uid.JPEG2000Lossless)
    return Case(save(ds, d / "multiframe_j2k.dcm"), src8, src12, note="showing frame 1 of 2")


@case
def no_file_meta(src8, src12, d):
    ds = make_dataset(src12, bits_stored=12)
    del ds.file_meta
    path = d / "nometa.dcm"
    ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    return Case(path, src8, src12)


@case
def rgb_secondary_capture(src8, src12, d):
    rgb = np.stack([src8, (src8 * 0.8).astype(np.uint8), (src8 * 0.6).astype(np.uint8)], axis=-1)
    ds = make_dataset(rgb, photometric="RGB", sop_class="1.2.840.10008.5.1.4.1.1.7")
    return Case(save(ds, d / "rgb.dcm"), src8)


@case
def palette_color(src8, src12, d):
    ds = make_dataset(src8, photometric="PALETTE COLOR", sop_class="1.2.840.10008.5.1.4.1.1.7")
    ramp = np.arange(256, dtype=np.uint16) * 257
    for name, scale in (("Red", 1.0), ("Green", 0.9), ("Blue", 0.7)):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{name}PaletteColorLookupTableData", (ramp * scale).astype("<u2").tobytes())
    return Case(save(ds, d / "palette.dcm"), src8)


@pytest.fixture(scope="module")
def build(source_gray, source12, tmp_path_factory) -> Callable[[str], Case]:
    cache: dict[str, Case] = {}
    folder = tmp_path_factory.mktemp("dicom")

    def get(name: str) -> Case:
        if name not in cache:
            cache[name] = CASES[name](source_gray, source12, folder)
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(CASES))
def test_dicom_decodes_like_its_source(name: str, build) -> None:
    c = build(name)
    film = load_film(c.path, keep_modality=True)
    h, w = c.reference.shape
    assert film.format == "dicom"
    assert film.original_size == (w, h)
    assert film.pixels.shape == (h, w)
    assert film.pixels.dtype == np.float32
    assert float(film.pixels.min()) >= 0.0 and float(film.pixels.max()) <= 1.0
    assert correlation(film.pixels, c.reference) > 0.95
    assert film.modality is not None and film.modality.dtype == np.float32
    if c.modality is not None:
        np.testing.assert_array_equal(film.modality, c.modality.astype(np.float32))
    if c.note:
        assert any(c.note in n for n in film.notes), film.notes
    else:
        assert film.notes == []
    assert film.window_presets and film.window_presets[-1][2] == "Full range"


def test_without_keep_modality_there_is_none(build) -> None:
    assert load_film(build("implicit_le_12in16").path).modality is None


def test_meta_and_phi(build) -> None:
    film = load_film(build("explicit_le_8bit").path)
    assert film.meta["Modality"] == "DX"
    assert film.meta["PatientName"] == "Doe, Jane"
    assert film.meta["StudyDate"] == "2024-01-31"
    assert film.meta["Rows"] == str(film.original_size[1])
    assert film.meta["TransferSyntax"] == "Explicit VR Little Endian"
    assert {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "InstitutionName",
    } <= film.phi_keys
    assert "Modality" not in film.phi_keys and "Rows" not in film.phi_keys
    assert all(isinstance(v, str) for v in film.meta.values())


def test_first_window_is_applied_exactly(source12, tmp_path) -> None:
    stored = source12.astype(np.int16) - 2048
    ds = make_dataset(
        stored,
        bits_stored=12,
        RescaleSlope=0.5,
        RescaleIntercept=100,
        WindowCenter=[150.0, 0.0],
        WindowWidth=[600.0, 4000.0],
        WindowCenterWidthExplanation=["LUNG", "WIDE"],
    )
    film = load_film(save(ds, tmp_path / "w.dcm"))
    modality = stored.astype(np.float64) * 0.5 + 100
    expected = np.clip((modality - (150 - 0.5)) / (600 - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(film.pixels, expected, atol=1e-5)
    assert film.window_presets[:2] == [(150.0, 600.0, "LUNG"), (0.0, 4000.0, "WIDE")]


def test_voi_lut_sequence_wins_over_window(source12, source_gray, tmp_path) -> None:
    from pydicom.dataset import Dataset

    lut = np.round(60000 * np.sqrt(np.arange(4096) / 4095)).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = lut.tolist()
    item["LUTData"].VR = "US"
    ds = make_dataset(source12, bits_stored=12, WindowCenter=10, WindowWidth=5)
    ds.VOILUTSequence = [item]
    film = load_film(save(ds, tmp_path / "lut.dcm"))
    np.testing.assert_allclose(film.pixels, lut[source12] / 60000, atol=1e-6)
    assert correlation(film.pixels, source_gray) > 0.95
    assert film.window_presets[0] == (2047.5, 4096.0, "VOI LUT range")


def test_monochrome1_is_inverted_and_window_kept(source_gray, tmp_path) -> None:
    ds = make_dataset(255 - source_gray, photometric="MONOCHROME1", WindowCenter=127.5, WindowWidth=256)
    film = load_film(save(ds, tmp_path / "m1.dcm"), keep_modality=True)
    assert correlation(film.pixels, source_gray) > 0.99
    assert correlation(film.modality, source_gray) < -0.99  # modality values stay un-inverted
    assert film.meta["PhotometricInterpretation"] == "MONOCHROME1"


@pytest.mark.parametrize(
    "name", ["j2k_lossless_12in16", "j2k_lossy_12in16", "jpeg_baseline_8bit", "multiframe_j2k"]
)
def test_reduced_resolution_decode(name: str, build) -> None:
    c = build(name)
    full = load_film(c.path, keep_modality=True)
    small = load_film(c.path, min_size=120, keep_modality=True)
    h, w = c.reference.shape
    assert small.original_size == full.original_size == (w, h)
    sh, sw = small.pixels.shape
    assert min(sh, sw) >= 120 and sh < h and sw < w
    assert small.modality is not None and small.modality.shape == small.pixels.shape
    assert correlation(small.pixels, full.pixels) > 0.98
    assert correlation(small.pixels, c.reference) > 0.95
    # same units as the full decode: windowing presets stay valid
    assert abs(float(small.modality.mean()) - float(full.modality.mean())) < 0.02 * float(full.modality.max())


def test_reduced_j2k_signed_matches_full_decode(source12, tmp_path) -> None:
    stored = source12.astype(np.int16) - 2048
    ds = make_dataset(stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-10)
    ds.compress(uid.JPEG2000Lossless)
    path = save(ds, tmp_path / "signed_j2k.dcm")
    full = load_film(path, keep_modality=True)
    small = load_film(path, min_size=200, keep_modality=True)
    assert small.pixels.shape == (source12.shape[0] // 2, 256)
    np.testing.assert_array_equal(full.modality, stored.astype(np.float32) * 2 - 10)
    half = full.modality[::2, ::2]
    assert abs(float(small.modality.mean()) - float(half.mean())) < 5
    assert correlation(small.modality, full.modality) > 0.99


def test_min_size_never_shrinks_below_request(build) -> None:
    c = build("j2k_lossless_12in16")
    h, w = c.reference.shape
    film = load_film(c.path, min_size=min(h, w) - 1)
    assert film.pixels.shape == (h, w)  # halving would go below min_size


def test_pydicom_bundled_files_decode() -> None:
    """Real files from other toolkits: big endian, JPEG-LS, JPEG extended, no-preamble explicit VR."""
    import pydicom

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    reference = load_film(folder / "MR_small.dcm", keep_modality=True)
    for name in ("MR_small_bigendian.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                 "MR_small_RLE.dcm", "MR_small_implicit.dcm"):  # fmt: skip
        film = load_film(folder / name, keep_modality=True)
        np.testing.assert_array_equal(film.modality, reference.modality, err_msg=name)
    extended = load_film(folder / "JPGExtended.dcm")
    assert extended.meta["TransferSyntax"].startswith("JPEG Extended") and extended.pixels.std() > 0.05


def test_missing_pixel_data_is_a_clear_error(source_gray, tmp_path) -> None:
    ds = make_dataset(source_gray, sop_class="1.2.840.10008.5.1.4.1.1.1")
    del ds.PixelData
    with pytest.raises(
        FilmError, match=r"^DICOM file has no image \(SOP class: Computed Radiography Image\)$"
    ):
        load_film(save(ds, tmp_path / "nopix.dcm"))


def test_structured_report_is_a_clear_error(tmp_path) -> None:
    ds = make_dataset(np.zeros((2, 2), np.uint8), sop_class="1.2.840.10008.5.1.4.1.1.88.11")
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit"):
        delattr(ds, keyword)
    ds.Modality = "SR"
    with pytest.raises(FilmError, match=r"^DICOM file has no image \(SOP class: Basic Text SR\)$") as info:
        load_film(save(ds, tmp_path / "sr.dcm"))
    assert info.value.sha256 is not None and len(info.value.sha256) == 64


def test_non_image_class_with_pixels_is_refused(source_gray, tmp_path) -> None:
    ds = make_dataset(source_gray, sop_class="1.2.840.10008.5.1.4.1.1.481.2")  # RT Dose: a dose grid
    with pytest.raises(FilmError, match=r"no image \(SOP class: RT Dose\)"):
        load_film(save(ds, tmp_path / "dose.dcm"))


def test_too_many_pixels_refused_before_decoding(tmp_path) -> None:
    ds = make_dataset(np.zeros((4, 4), np.uint16), Rows=20000, Columns=6000, NumberOfFrames=1)
    with pytest.raises(
        FilmError, match=r"^image too large: 6000 x 20000 px exceeds the 100,000,000-pixel limit$"
    ):
        load_film(save(ds, tmp_path / "bomb.dcm"))
    ds = make_dataset(np.zeros((4, 4), np.uint16), Rows=5000, Columns=5000, NumberOfFrames=5)
    with pytest.raises(FilmError, match=r"image too large: 5000 x 5000 px x 5 frames"):
        load_film(save(ds, tmp_path / "bomb_frames.dcm"))


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
def test_truncated_pixel_data(build, tmp_path) -> None:
    data = build("implicit_le_12in16").path.read_bytes()
    for name, cut in (("native", len(data) - 5000), ("header", 300)):
        path = tmp_path / f"{name}.dcm"
        path.write_bytes(data[:cut])
        with pytest.raises(FilmError, match=r"^truncated DICOM: "):
            load_film(path)
    data = build("j2k_lossless_12in16").path.read_bytes()
    path = tmp_path / "j2k.dcm"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(FilmError, match=r"^truncated DICOM: "):
        load_film(path)
    with pytest.raises(FilmError, match=r"^truncated DICOM: "):
        load_film(path, min_size=64)
