"""The verdict table every benchmark prints (benchmarks/verdict.py)."""

from __future__ import annotations

from benchmarks.verdict import Check, check, verdict


def test_check_compares_in_the_direction_of_its_kind():
    assert check("t", 120.0, 120.0, "max", unit="s") == Check("t", "120 s", "<= 120 s", True)
    assert check("t", 2.0, 2.0, "max<", unit="s").ok is False
    assert check("acc", 0.5, 0.97, "min") == Check("acc", "0.5", ">= 0.97", False)
    assert check("nll", 5.1234, 5.19, "max", fmt=".3f").measured == "5.123"


def test_verdict_prints_one_table_and_exits_1_only_for_a_missed_target(capsys):
    checks = [
        check("train s", 80.0, 120.0, "max"),
        Check("cells", "4"),
        Check("nll", "5.1", "<= 5", ok=False, required=False),
    ]
    assert verdict(checks, "demo: targets") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:8] == [
        "",
        "demo: targets",
        "",
        "| figure  | target | measured | verdict    |",
        "| ------- | ------ | -------- | ---------- |",
        "| train s | <= 120 | 80       | pass       |",
        "| cells   | -      | 4        | -          |",
        "| nll     | <= 5   | 5.1      | MISS (aim) |",
    ]
    assert out[8:10] == ["", "verdict: all 1 targets met"]
    assert verdict([*checks, check("acc", 0.5, 0.97, "min")], "t") == 1
    assert "verdict: 1 of 2 targets missed: acc" in capsys.readouterr().out.splitlines()
