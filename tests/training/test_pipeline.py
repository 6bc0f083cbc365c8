"""A tiny end-to-end run: train -> export -> load in the engine -> score the sample study."""

import csv
import json

import numpy as np
import pytest
import torch

from xrayviewer.films import discover_films
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.scoring import score_films
from xrayviewer.training.datasets import from_manifest
from xrayviewer.training.export import load_checkpoint
from xrayviewer.training.pipeline import run_pipeline
from xrayviewer.training.train import TrainConfig

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp("tiny_run")
    rows = list(csv.DictReader((data_root / "manifest.csv").open()))
    keep = []
    for split, n in (("train", 24), ("val", 12)):
        for label in ("NORMAL", "PNEUMONIA"):
            keep += [r for r in rows if r["split"] == split and r["label"] == label][:n]
    manifest = tmp / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in keep:
            w.writerow({**r, "path": str(data_root / r["path"])})
    cfg = TrainConfig(architecture="minivgg", input_size=64, epochs=2, batch_size=8, max_batches=3,
                      pretrained=False, seed=3)
    result = run_pipeline(from_manifest(manifest), cfg, run_dir=tmp / "run", cache_dir=tmp / "cache",
                          out=tmp / "model.onnx", model_id="tiny-e2e", min_sensitivity=0.95,
                          command="xrayviewer train --arch minivgg (test)")
    return tmp, result


def test_export_honours_the_contract_and_card(tiny_run):
    tmp, result = tiny_run
    engine = Engine(result.model_path, provider="cpu")
    card = engine.card
    assert card.id == "tiny-e2e" and card.input_size == 64 and 0 < card.threshold < 1
    assert card.val_metrics["sensitivity"] >= 0.95
    assert len(card.data_manifest_sha256) == 64 and card.training_command.startswith("xrayviewer train")
    assert engine.feature_names == sorted(card.feature_outputs) and len(engine.feature_names) == 3
    assert json.loads((tmp / "model.card.json").read_text())["threshold"] == card.threshold
    history = json.loads((tmp / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (tmp / "run" / "log.csv").is_file()


def test_torch_and_onnxruntime_agree_on_real_films(tiny_run):
    tmp, result = tiny_run
    assert result.parity["probability"] < 1e-4 and result.parity["cam"] < 1e-3
    net, _ = load_checkpoint(tmp / "run" / "best.pt")
    engine = Engine(result.model_path, provider="cpu")
    from xrayviewer.films import load_film
    from xrayviewer.inference.preprocess import preprocess

    films = np.stack([preprocess(load_film(p, min_size=64).pixels, 64) for p in sorted(SAMPLES.glob("*.jpeg"))])
    with torch.no_grad():
        logit, cam = net(torch.from_numpy(films)[:, None])
    pred = engine.run(films)
    t, b = engine.card.temperature, engine.card.bias  # the engine calibrates: z / T + b, map and logit alike
    np.testing.assert_allclose(pred.probability, torch.sigmoid(logit / t + b).numpy(), atol=1e-5)
    np.testing.assert_allclose(pred.cam, cam.numpy() / t + b, atol=1e-4)


def test_scores_the_sample_study(tiny_run):
    _, result = tiny_run
    engine = Engine(result.model_path, provider="cpu")
    results = list(score_films(discover_films(SAMPLES), engine, batch_size=5, keep_cam=True))
    assert len(results) == 16 and all(r.ok for r in results)
    for r in results:
        assert 0.0 <= r.probability <= 1.0
        assert r.cam.shape == (8, 8)
        assert r.probability == pytest.approx(1 / (1 + np.exp(-r.cam.mean())), abs=1e-5)
        assert r.prediction == ("PNEUMONIA" if r.probability >= engine.card.threshold else "NORMAL")


def test_cam_lines_up_with_the_film(tiny_run):
    """A change in the film's top-left corner moves only the top-left of the CAM (not flipped/transposed)."""
    _, result = tiny_run
    engine = Engine(result.model_path, provider="cpu")
    rng = np.random.default_rng(0)
    film = rng.random((64, 64), dtype=np.float32)
    poked = film.copy()
    poked[:6, :6] = 1.0 - poked[:6, :6]
    diff = np.abs(engine.run(np.stack([film, poked])).cam[1] - engine.run(film[None]).cam[0])
    assert diff[:2, :2].max() > 1e-4
    assert diff[5:, :].max() == 0 and diff[:, 5:].max() == 0


def test_resume_continues_from_last_checkpoint(tiny_run, data_root):
    tmp, _ = tiny_run
    state = torch.load(tmp / "run" / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and len(state["history"]) == 2


def test_resuming_a_finished_run_re_exports_with_the_original_command(tiny_run):
    tmp, first = tiny_run
    cfg = TrainConfig(architecture="minivgg", input_size=64, epochs=2, batch_size=8, max_batches=3,
                      pretrained=False, seed=3)
    ds = from_manifest(tmp / "manifest.csv")
    again = run_pipeline(ds, cfg, run_dir=tmp / "run", cache_dir=tmp / "cache", out=tmp / "again.onnx",
                         model_id="tiny-e2e", min_sensitivity=0.95, command="xrayviewer train --resume (test)",
                         resume=True)
    assert again.card.training_command == first.card.training_command
    assert again.card.extra["resumed_with"] == "xrayviewer train --resume (test)"
    assert again.card.extra["epochs_run"] == 2
    assert again.card.threshold == first.card.threshold
    history = json.loads((tmp / "run" / "history.json").read_text())
    assert len(history) == 2  # nothing more was trained


def test_card_metrics_are_what_the_runtime_sees(tiny_run):
    """The threshold and card metrics come from float32 films through the runtime's own preprocessing."""
    from xrayviewer.training.metrics import metrics_at

    tmp, result = tiny_run
    val = from_manifest(tmp / "manifest.csv").split("val")
    engine = Engine(result.model_path, provider="cpu")
    scored = list(score_films([s.path for s in val], engine, batch_size=8))
    probs = np.array([r.probability for r in scored])
    m = metrics_at(np.array([s.label for s in val]), probs, engine.card.threshold)
    for key in ("accuracy", "sensitivity", "specificity"):
        assert round(getattr(m, key), 4) == engine.card.val_metrics[key], key


@pytest.fixture(scope="module")
def tiny_ensemble(tmp_path_factory, tiny_run):
    """Two members trained side by side (--only-member), then assembled by a resumed run."""
    tmp, _ = tiny_run
    out = tmp_path_factory.mktemp("ensemble")
    cfg = TrainConfig(architecture="minivgg", input_size=64, epochs=2, batch_size=8, max_batches=3,
                      pretrained=False, seed=5, lp_epochs=1, ema=0.9, mixup=0.2, select="last")
    ds = from_manifest(tmp / "manifest.csv")
    kw = dict(run_dir=out / "run", cache_dir=tmp / "cache", out=out / "ens.onnx", model_id="tiny-ens",
              min_sensitivity=0.95, command="xrayviewer train --members 2 (test)", members=2)
    for k in (0, 1):
        assert run_pipeline(ds, cfg, only_member=k, **kw) is None
    return out, run_pipeline(ds, cfg, resume=True, **kw)


def test_ensemble_assembles_calibrates_and_carries_its_scope_detector(tiny_ensemble):
    from xrayviewer.inference.calibration import sigmoid

    out, result = tiny_ensemble
    card = Engine(result.model_path, provider="cpu").card
    assert card.extra["members"] == 2 and card.extra["member_seeds"] == [5, 6]
    assert card.extra["epochs_run"] == [2, 2]  # nothing retrained when assembling
    assert card.temperature > 0 and "val_ece_after" in card.calibration
    lo, hi = card.borderline
    assert lo < card.threshold < hi
    assert card.ood and card.ood["cutoff"] > 0 and card.limits
    # fitted on the 48 training films as they are, mirrored and with borders (3 framings x 2) against the
    # same films turned (3 framings x 4)
    turned = card.orientation["info"]
    assert turned["n_train"] == 6 * 48 and turned["n_train_turned"] == 12 * 48 and turned["n_val"] == 24
    assert result.parity["probability"] < 1e-4
    # the engine's probability is the calibrated one and its map stays exact
    films = np.random.default_rng(0).random((4, 64, 64), dtype=np.float32)
    pred = Engine(result.model_path, provider="cpu").run(films)
    assert pred.embedding is not None and pred.embedding.shape == (4, 2 * 128)
    np.testing.assert_allclose(pred.probability, sigmoid(pred.cam.reshape(4, -1).mean(1)), atol=1e-5)
    net_a, _ = load_checkpoint(out / "run" / "member-0" / "best.pt")
    net_b, _ = load_checkpoint(out / "run" / "member-1" / "best.pt")
    with torch.no_grad():
        x = torch.from_numpy(films)[:, None]
        mean_logit = (net_a(x)[0] + net_b(x)[0]) / 2
    np.testing.assert_allclose(pred.probability, torch.sigmoid(mean_logit / card.temperature + card.bias).numpy(),
                               atol=1e-5)


def test_val_figures_on_the_card_are_at_its_threshold(tiny_ensemble):
    _, result = tiny_ensemble
    card = result.card
    assert card.val_metrics["threshold"] == pytest.approx(card.threshold, abs=1e-4)  # rounded on the card
    assert card.val_metrics["sensitivity"] >= 0.95  # the robust rule never goes below its floor


def test_int8_quantisation_keeps_the_contract_and_the_exact_map(tiny_ensemble, tmp_path):
    from xrayviewer.inference.calibration import logit
    from xrayviewer.training.quantize import quantize_int8

    _, result = tiny_ensemble
    films = np.random.default_rng(3).random((40, 64, 64), dtype=np.float32)
    q = quantize_int8(result.model_path, tmp_path / "q.onnx", films[:32])
    assert q.stat().st_size < result.model_path.stat().st_size / 2
    fp, i8 = Engine(result.model_path, provider="cpu"), Engine(q, provider="cpu")
    assert i8.card.id == fp.card.id and i8.has_embedding  # the card and the contract travel
    a, b = fp.run(films[32:]), i8.run(films[32:])
    np.testing.assert_allclose(logit(b.probability), b.cam.reshape(8, -1).mean(1), atol=1e-4)
    assert np.abs(a.probability - b.probability).max() < 0.1


def test_refit_scope_writes_the_checks_into_an_exported_models_card(tiny_run, tiny_ensemble, tiny_model, tmp_path,
                                                                    capsys):
    """For a model exported before a check existed: the card gains it, the weights and the rest stay."""
    import shutil

    from xrayviewer.cli import main
    from xrayviewer.training.quantize import write_card

    _, result = tiny_ensemble
    manifest = tiny_run[0] / "manifest.csv"
    model = tmp_path / "older.onnx"
    shutil.copy(result.model_path, model)
    older = Engine(model, provider="cpu").card
    older.orientation = {}
    write_card(model, older)
    films = np.random.default_rng(4).random((4, 64, 64), dtype=np.float32)
    before = Engine(model, provider="cpu").run(films)
    code = main(["train", "--data", str(manifest), "--refit-scope", "--out", str(model),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    card = Engine(model, provider="cpu").card
    assert card.orientation["info"]["n_train"] == 6 * 48
    assert card.ood["cutoff"] == pytest.approx(older.ood["cutoff"])  # the same detector, fitted again
    assert card.threshold == older.threshold and card.extra["scope_refit"]["command"].startswith("xrayviewer")
    after = Engine(model, provider="cpu").run(films)
    np.testing.assert_array_equal(after.cam, before.cam)  # the network itself is untouched
    assert "orientation check" in capsys.readouterr().err
    assert main(["train", "--data", str(manifest), "--refit-scope", "--out", str(tmp_path / "none.onnx")]) == 2
    assert "needs an exported model" in capsys.readouterr().err
    assert main(["train", "--data", str(manifest), "--refit-scope", "--out", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert "has no 'embedding' output" in err and "Traceback" not in err and "unexpected" not in err
