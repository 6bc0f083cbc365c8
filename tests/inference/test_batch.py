"""inference/batch.py: rows batch by batch, the atomic row writer and the per-film output pool."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest

from xrayviewer.common.vocab import Status
from xrayviewer.inference.batch import (
    COLUMNS,
    OutputPool,
    RowWriter,
    ScoreRow,
    Tally,
    find_films,
    relative_name,
    rows_from_batches,
    score_rows,
)
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.scoring import FilmResult


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return Engine(tiny_model, "cpu", threads=1)


def _named(row) -> dict[str, str]:
    return dict(zip(COLUMNS, row.cells(), strict=True))


def test_site_threshold_and_borderline_reach_the_rows(film_folder: Path, tmp_path: Path) -> None:
    from tests.helpers.tiny_model import build_tiny_model
    from xrayviewer.inference.card import ModelCard

    card = ModelCard(id="tiny-band", input_size=64, threshold=0.5, threshold_rule="t", borderline=[0.2, 0.8])
    eng = Engine(build_tiny_model(tmp_path / "band.onnx", card=card), "cpu", threads=1)
    eng.threshold = 0.3  # a site threshold in force
    paths, base = find_films(film_folder)
    rows = [r for b in score_rows(paths, eng, base=base, workers=1) for r in b]
    for r in rows:
        c = _named(r)
        assert c["threshold"] == "0.3"
        if r.ok:
            p = r.result.probability
            assert c["prediction"] == ("PNEUMONIA" if p >= 0.3 else "NORMAL")
            assert c["borderline"] == ("yes" if card.is_borderline(p, 0.3) else "no")


def test_rows_come_batch_by_batch_in_order(film_folder: Path, engine: Engine) -> None:
    paths, base = find_films(film_folder)
    batches = list(score_rows(paths, engine, base=base, batch_size=2, workers=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    rows = [r for b in batches for r in b]
    assert [r.result.path for r in rows] == paths
    assert [r.path for r in rows] == [relative_name(p, base) for p in paths]
    broken = next(r for r in rows if r.path == "broken.jpeg")
    assert not broken.ok and broken.error
    b = _named(broken)
    assert (b["path"], b["pneumonia_probability"], b["prediction"], b["threshold"], b["borderline"], b["status"],
            b["error"], b["sha256"], b["model_id"]) == ("broken.jpeg", "", "", "0.5", "", "error", broken.error,
                                                        broken.result.sha256, "tiny-test-model")
    for r in rows:
        assert len(r.cells()) == len(COLUMNS)
        if r.ok:
            c = _named(r)
            p = float(c["pneumonia_probability"])
            assert 0.0 <= p <= 1.0 and c["prediction"] == ("PNEUMONIA" if p >= 0.5 else "NORMAL")
            assert c["status"] == "ok" and c["error"] == "" and len(c["sha256"]) == 64
            assert c["borderline"] == "no"  # the tiny model's card has no band
    assert any(r.path.startswith("sub/") for r in rows)  # relative, with `/`


def test_another_scorer_plugs_in(tmp_path: Path, engine: Engine) -> None:
    """The seam for other engines: any callable yielding FilmResults per batch."""
    seen: dict[str, object] = {}

    def scorer(paths, eng, *, batch_size, workers, keep_cam, cancel):
        seen.update(batch_size=batch_size, keep_cam=keep_cam, engine=eng)
        yield [FilmResult(p, Status.OK, probability=0.75, prediction="PNEUMONIA", threshold=0.5, sha256="ab")
               for p in paths[:2]]
        yield [FilmResult(paths[2], Status.ERROR, error="nope")]

    paths = [tmp_path / f"f{i}.png" for i in range(3)]
    batches = list(score_rows(paths, engine, base=tmp_path, batch_size=7, keep_cam=True, scorer=scorer))
    assert seen == {"batch_size": 7, "keep_cam": True, "engine": engine}
    keys = ("path", "pneumonia_probability", "prediction", "threshold", "status", "error", "sha256", "model_id")
    assert [[tuple(_named(r)[k] for k in keys) for r in b] for b in batches] == [
        [("f0.png", "0.750000", "PNEUMONIA", "0.5", "ok", "", "ab", "tiny-test-model"),
         ("f1.png", "0.750000", "PNEUMONIA", "0.5", "ok", "", "ab", "tiny-test-model")],
        [("f2.png", "", "", "0.5", "error", "nope", "", "tiny-test-model")],
    ]
    tally = Tally()
    for b in batches:
        tally.add(b)
    assert (tally.ok, tally.errors, tally.positive, tally.done) == (2, 1, 2, 3)


def test_cancel_stops_after_the_batch_in_flight(film_folder: Path, engine: Engine) -> None:
    paths, base = find_films(film_folder)
    cancel = threading.Event()
    rows = score_rows(paths, engine, base=base, batch_size=1, workers=1, cancel=cancel)
    first = next(rows)
    cancel.set()
    rest = list(rows)
    assert len(first) == 1 and sum(map(len, rest)) < len(paths) - 1


def _row(name: str) -> ScoreRow:
    card = ModelCard(id="m", input_size=8, threshold=0.5, threshold_rule="test")
    return next(rows_from_batches([[FilmResult(Path(name), Status.ERROR, error="bad")]], base=Path(), card=card))[0]


def test_row_writer_is_atomic_and_flushes_per_batch(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with RowWriter(target) as out:
        out.write([_row("a.png")])
        temp = next(tmp_path.glob(".out.csv.*.tmp"))
        assert temp.read_text().splitlines()[1].startswith("a.png,")  # flushed, not only buffered
        assert target.read_text() == "old\n"  # untouched until commit
        out.write([_row("b.png"), _row("c.png")])
        out.commit()
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS and [r[0] for r in rows[1:]] == ["a.png", "b.png", "c.png"]
    assert not list(tmp_path.glob(".out.csv.*"))


def test_row_writer_partial_and_discard(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with RowWriter(target) as out:
        out.write([_row("a.png")])
        partial = out.keep_partial()
    assert partial == tmp_path / "out.csv.partial" and not target.exists()
    assert len(partial.read_text().splitlines()) == 2
    with pytest.raises(RuntimeError), RowWriter(target) as out:
        out.write([_row("a.png")])
        raise RuntimeError("boom")
    assert not target.exists() and not list(tmp_path.glob(".out.csv.*"))
    with pytest.raises(IsADirectoryError):
        RowWriter(tmp_path)
    with pytest.raises(FileNotFoundError):
        RowWriter(tmp_path / "missing" / "o.csv")


def test_output_pool_counts_failures_and_never_raises() -> None:
    failures: list[tuple[str, str]] = []
    done: list[int] = []

    def job(i: int) -> None:
        if i % 3 == 0:
            raise OSError(f"disk full at {i}")
        done.append(i)

    with OutputPool(2, backlog=2, on_error=lambda label, exc: failures.append((label, str(exc)))) as pool:
        for i in range(10):
            pool.submit(f"film{i}", job, i)
            assert len(pool._jobs) <= 2  # bounded: older jobs settled first
        pool.settle()
    assert pool.done == 6 and pool.failed == 4
    assert sorted(done) == [1, 2, 4, 5, 7, 8]
    assert sorted(failures) == sorted((f"film{i}", f"disk full at {i}") for i in (0, 3, 6, 9))


def test_find_films_leaves_out_an_output_folder(film_folder: Path) -> None:
    heat = film_folder / "heat"
    heat.mkdir()
    (heat / "x.jpeg.png").write_bytes((film_folder / "broken.jpeg").read_bytes())
    paths, base = find_films(film_folder, exclude=heat)
    assert base == film_folder and not any(heat in p.parents for p in paths)
    one, base1 = find_films(paths[0])
    assert one == [paths[0]] and base1 == paths[0].parent
