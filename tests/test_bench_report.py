"""bench/report.py explains a missed goal from the measured numbers, and only a missed one."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT


def load_report():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "bench"))  # report.py imports its sibling _common
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


def check_result(cold_s: float, breakdown: dict | None) -> dict:
    result = {
        "specs": [{"spec": "a.yaml", "check_s": cold_s, "keras_s": 7.0, "ratio": 7.0 / cold_s}],
        "summary": {
            "max_cold_check_s": cold_s,
            "min_ratio_vs_keras": 7.0 / cold_s,
            "largest_generated_cold_s": 0.8,
        },
    }
    if breakdown:
        result["breakdown"] = breakdown
    return result


BREAKDOWN = {
    "spec": "big.yaml",
    "stages": [
        {"stage": "Python interpreter start", "cold_s": 0.015},
        {"stage": "+ pydantic", "cold_s": 0.198},
        {"stage": "+ models", "cold_s": 0.246},
        {"stage": "+ load and check", "cold_s": 0.337},
        {"stage": "+ the CLI", "cold_s": 0.461},
    ],
    "typer_rich_alone_s": 0.121,
}


def test_the_check_section_breaks_a_cold_check_down_beside_the_baseline():
    check = {
        **check_result(0.461, BREAKDOWN),
        "baseline_breakdown": {
            **BREAKDOWN,
            "ref": "abc1234",
            "stages": [{**r, "cold_s": r["cold_s"] * 2} for r in BREAKDOWN["stages"]],
        },
    }
    lines = load_report().breakdown_lines(check)
    assert "| stage (cumulative) | CPU s | CPU s at abc1234 |" in lines
    assert "| + load and check | 0.337 | 0.674 |" in lines
    assert "| Python interpreter start | 0.015 | 0.030 |" in lines
    assert "| for reference: typer and rich alone | 0.121 | 0.121 |" in lines
    assert load_report().breakdown_lines(check_result(0.461, None)) == []


def test_missed_goals_are_explained():
    notes = load_report().missed_goal_notes(check_result(0.461, BREAKDOWN))
    assert "goal <= 0.3 s" in notes and "typer nor rich" in notes
    assert "under about 0.28 s" in notes  # the 25x ratio note: 7.0 s / 25


def test_met_goals_get_no_notes():
    assert load_report().missed_goal_notes(check_result(0.25, BREAKDOWN)) == ""
