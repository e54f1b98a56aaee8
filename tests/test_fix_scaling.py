"""The fix search is linear: the work a check does per layer does not grow with the spec
(counted, not timed). Every batch norm after a relu is a W103 finding whose fix once
rescanned the whole graph and the whole text (4,000 pairs: 20 s)."""

from __future__ import annotations

import sys

import caegen
from caegen.compile import graph
from caegen.spec import textspan
from caegen.spec.layers.base import LayerBase
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from check_scaling import spec


def work(layers: int, monkeypatch) -> dict[str, int]:
    """Calls a check of `layers` conv + batch-norm layers makes (the same functions run)."""
    calls = {"consumers": 0, "input_names": 0}

    def counting(name, real):
        def spy(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return spy

    monkeypatch.setattr(graph.Graph, "consumers", counting("consumers", graph.Graph.consumers))
    monkeypatch.setattr(LayerBase, "input_names", counting("input_names", LayerBase.input_names))
    textspan.lines_of.cache_clear()
    textspan.rows_of.cache_clear()
    report = caegen.check(caegen.loads(spec(layers, batch_norm=True)))
    assert len([d for d in report.warnings if d.code == "W103" and d.fixes]) == layers // 2
    calls["text splits"] = textspan.lines_of.cache_info().misses
    calls["text splits"] += textspan.rows_of.cache_info().misses
    monkeypatch.undo()
    return calls


def test_the_w103_fix_search_does_the_same_work_per_layer_at_any_size(monkeypatch):
    small, large = work(200, monkeypatch), work(2000, monkeypatch)
    assert large["consumers"] == small["consumers"]  # once per check, not once per finding
    assert large["text splits"] == small["text splits"] <= 4  # the text is split once
    assert large["input_names"] <= 12 * small["input_names"]  # linear: 10x the layers
