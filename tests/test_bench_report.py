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


def test_missed_cold_check_is_explained_stage_by_stage():
    notes = load_report().missed_goal_notes(check_result(0.461, BREAKDOWN))
    assert "| + load and check | 0.337 |" in notes
    assert "| Python interpreter start | 0.015 |" in notes
    assert "library path alone, with no CLI, takes 0.337 s, and 0.198 s" in notes
    assert "imported on their own, take 0.121 s" in notes
    assert "under about 0.35 s" in notes  # the 20x ratio note: 7.0 s / 20


def test_results_without_the_stages_still_explain_the_miss():
    notes = load_report().missed_goal_notes(check_result(0.461, None))
    assert "goal <= 0.3 s" in notes and "| stage" not in notes


def test_met_goals_get_no_notes():
    assert load_report().missed_goal_notes(check_result(0.25, BREAKDOWN)) == ""
