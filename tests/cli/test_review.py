import csv

from xrayviewer.cli import main
from xrayviewer.review import AgreementLog, Decision


def _decide(log, sha, decision, reviewer="dr a"):
    log.record(Decision(sha256=sha, path=f"films/{sha[:4]}.jpeg", study="/study", model_id="m",
                        probability=0.8, model_call="PNEUMONIA", threshold=0.5, reviewer=reviewer,
                        decision=decision))


def test_review_export_and_stats_from_the_command_line(tmp_path, capsys):
    db = tmp_path / "log.sqlite3"
    with AgreementLog(db) as log:
        _decide(log, "a" * 64, "NORMAL")
        _decide(log, "a" * 64, "PNEUMONIA")  # changed mind: the latest counts
        _decide(log, "b" * 64, "NORMAL")
    out = tmp_path / "review.csv"
    assert main(["review", "export", "--log", str(db), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["sha256"][0], r["decision"], r["agrees"]) for r in rows] == [
        ("a", "PNEUMONIA", "true"), ("b", "NORMAL", "false")]
    assert main(["review", "stats", "--log", str(db)]) == 0
    assert "dr a" in capsys.readouterr().out


def test_review_export_of_a_missing_log_is_a_clear_error(tmp_path, capsys):
    assert main(["review", "export", "--log", str(tmp_path / "nope.sqlite3"), "--csv",
                 str(tmp_path / "x.csv")]) == 2  # the exit code every command uses for unusable input
    err = capsys.readouterr().err
    assert "xrayviewer review export: error:" in err and "no agreement log" in err
    assert not (tmp_path / "x.csv").exists()


def test_site_threshold_round_trip_through_the_cli_and_score(tmp_path, capsys):
    """Propose, accept, score with it (CSV threshold column), revert, score with the card's again."""
    import hashlib

    import numpy as np

    from tests.helpers.tiny_model import build_tiny_model
    from xrayviewer.inference.card import ModelCard

    card = ModelCard(id="tiny-site", input_size=64, threshold=0.5, threshold_rule="t",
                     val_metrics={"sensitivity": 0.95, "specificity": 0.9})
    model = build_tiny_model(tmp_path / "m.onnx", card=card)
    db = tmp_path / "log.sqlite3"
    rng = np.random.default_rng(0)
    with AgreementLog(db) as log:
        for i in range(35):
            for label, lo, hi in (("PNEUMONIA", 0.55, 1.0), ("NORMAL", 0.2, 0.7)):
                p = float(rng.uniform(lo, hi))
                log.record(Decision(sha256=hashlib.sha256(f"{label}{i}".encode()).hexdigest(),
                                    path=f"f{i}.png", study="/s", model_id="tiny-site", probability=p,
                                    model_call="PNEUMONIA" if p >= 0.5 else "NORMAL", threshold=0.5,
                                    reviewer="dr a", decision=label))
    assert main(["review", "threshold", "--log", str(db), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "threshold in force for tiny-site: 0.5000 (model card)" in out and "Site threshold" in out
    assert main(["review", "threshold", "--log", str(db), "--model", str(model), "--accept"]) == 2  # no reviewer
    assert main(["review", "threshold", "--log", str(db), "--model", str(model), "--accept",
                 "--reviewer", "dr a"]) == 0
    with AgreementLog(db, readonly=True) as log:
        site = log.site_threshold("tiny-site").threshold
    assert site > 0.5
    films = tmp_path / "films"
    films.mkdir()
    from PIL import Image

    for i, v in enumerate((40, 140, 220)):
        Image.fromarray(np.full((64, 64), v, np.uint8)).save(films / f"f{i}.png")
    csv_out = tmp_path / "s.csv"
    assert main(["score", str(films), "--csv", str(csv_out), "--model", str(model), "--log", str(db), "-q"]) == 0
    assert {r["threshold"] for r in csv.DictReader(csv_out.open())} == {f"{site:g}"}
    assert main(["score", str(films), "--csv", str(csv_out), "--model", str(model), "--log", str(db), "-q",
                 "--no-site-threshold"]) == 0
    assert {r["threshold"] for r in csv.DictReader(csv_out.open())} == {"0.5"}
    assert main(["review", "stats", "--log", str(db), "--model", str(model)]) == 0
    assert "site threshold accepted by dr a" in capsys.readouterr().out
    assert main(["review", "threshold", "--log", str(db), "--model", str(model), "--revert",
                 "--reviewer", "dr b"]) == 0
    assert main(["score", str(films), "--csv", str(csv_out), "--model", str(model), "--log", str(db), "-q"]) == 0
    assert {r["threshold"] for r in csv.DictReader(csv_out.open())} == {"0.5"}
