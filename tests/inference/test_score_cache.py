"""inference/score_cache.py: scores kept between sessions under content hash, model and threshold."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from xrayviewer.common.vocab import Status
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.score_cache import ScoreCache, file_sha256, model_key
from xrayviewer.inference.scoring import FilmResult, score_films
from xrayviewer.paths import samples_dir
from xrayviewer.scope import OUT_OF_SCOPE, Scope


def test_real_scores_round_trip_with_heat_maps(tmp_path: Path, tiny_model: Path) -> None:
    films = sorted(samples_dir().glob("*.jpeg"))[:4]
    engine = Engine(tiny_model, provider="cpu")
    results = list(score_films(films, engine, keep_cam=True))
    cache = ScoreCache(tmp_path / "c" / "scores.sqlite3")
    key = model_key(engine.card.id, tiny_model)
    assert cache.put_many(results, key) == 4
    cache.close()

    again = ScoreCache(tmp_path / "c" / "scores.sqlite3")  # another session
    shas = [file_sha256(p) for p in films]
    assert shas == [r.sha256 for r in results]  # the decoders' hash
    found = again.get_many(shas, key, engine.card.threshold)
    assert set(found) == set(shas)
    for r in results:
        back = found[r.sha256].to_result(tmp_path / "renamed.jpeg")
        assert back.ok and back.path.name == "renamed.jpeg"
        assert back.probability == r.probability and back.prediction == r.prediction
        assert back.borderline == r.borderline and back.original_size == r.original_size
        assert back.cam is not None and r.cam is not None
        np.testing.assert_array_equal(back.cam, np.asarray(r.cam, np.float32))
    assert again.get_many(shas, "another-model", engine.card.threshold) == {}  # another model rescores
    assert again.get_many(shas, key, 0.123) == {}  # another (site) threshold rescores


def test_changed_file_is_a_miss(tmp_path: Path) -> None:
    film = tmp_path / "a.jpeg"
    shutil.copy(sorted(samples_dir().glob("*.jpeg"))[0], film)
    before = file_sha256(film)
    film.write_bytes(film.read_bytes() + b"\0")
    assert file_sha256(film) != before


def test_errors_are_not_kept_and_out_of_scope_is(tmp_path: Path) -> None:
    cache = ScoreCache(tmp_path / "s.sqlite3")
    sha_a, sha_b = "a" * 64, "b" * 64
    results = [FilmResult(Path("x"), Status.ERROR, error="bad", sha256=sha_a),
               FilmResult(Path("y"), Status.OK, sha256=sha_b, prediction=OUT_OF_SCOPE, threshold=0.4,
                          scope=Scope(reasons=("lateral view",), warnings=("age 9",)))]
    assert cache.put_many(results, "m") == 1
    got = cache.get_many([sha_a, sha_b], "m", 0.4)
    assert list(got) == [sha_b]
    back = got[sha_b].to_result(Path("y"))
    assert back.out_of_scope and math.isnan(back.probability) and back.cam is None
    assert back.scope is not None and back.scope.reason_text == "lateral view" and back.scope.warning_text == "age 9"


def test_damaged_or_unusable_cache_never_stops_scoring(tmp_path: Path) -> None:
    bad = tmp_path / "scores.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    cache = ScoreCache(bad)
    assert cache.usable and cache.count() == 0  # set aside and started afresh
    assert any(p.name.startswith("scores.sqlite3.damaged-") for p in tmp_path.iterdir())

    blocked = tmp_path / "file"
    blocked.write_text("x")
    unusable = ScoreCache(blocked / "scores.sqlite3")  # its folder cannot exist
    assert not unusable.usable and "unavailable" in unusable.error
    assert unusable.get_many(["a" * 64], "m", 0.5) == {} and unusable.put_many([], "m") == 0


def test_prune_bounds_the_size(tmp_path: Path) -> None:
    cache = ScoreCache(tmp_path / "s.sqlite3")
    rows = [FilmResult(Path(f"{i}"), Status.OK, sha256=f"{i:064x}", probability=0.5, prediction="NORMAL",
                       threshold=0.6) for i in range(10)]
    cache.put_many(rows, "m")
    assert cache.prune(max_rows=4) == 6 and cache.count() == 4
