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
