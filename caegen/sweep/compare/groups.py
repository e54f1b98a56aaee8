"""Repeats grouped, tasks kept apart, groups labelled by what varies.

A group is the runs whose resolved specs are equal once `train.seed` and the run's name are
removed: the repeats of one configuration, whether a sweep trained them (`--repeats`) or
separate `caegen train --seed` calls did. A family is the groups that may be ranked
together: the same task (plain reconstruction, or denoising, ranked by the gain over the
noisy input) on the same test images (the same data and input size; runs scored on
subsets of the same split are paired on the images both scored).

A group's label is what sets it apart from the other groups compared: the sweep's recorded
point when every group is a point of one sweep, else the differences between the resolved
specs (`noise=0.3`, `encoder[1]=max_pool2d`, `train.epochs=10`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from caegen.sweep.compare.collect import Entry

RECONSTRUCTION, DENOISING = "reconstruction", "denoising"
MAX_TERMS = 4
"""A label of more differences than this is replaced by the spec's name (or shortened)."""
ALIASES = {"data.noise.stddev": "noise", "data.noise": "noise"}
"""Short names of paths in labels; otherwise a `train.` or `data.` prefix is dropped."""


@dataclass
class Family:
    """Groups that may be ranked together: one task, one test set."""

    task: str
    test_set: str
    title: str


@dataclass
class Group:
    number: int
    key: str
    entries: list[Entry]
    family: Family
    label: str = ""

    @property
    def name(self) -> str:
        return f"G{self.number}"

    @property
    def first(self) -> Entry:
        return self.entries[0]

    @property
    def task(self) -> str:
        return self.family.task

    @property
    def params(self) -> int:
        return self.first.params

    @property
    def macs(self) -> int:
        return self.first.macs

    @property
    def noise_std(self) -> float | None:
        return self.first.noise_std

    def describe(self) -> str:
        return f"{self.name} {self.label}" if self.label else self.name


def group_key(entry: Entry) -> str:
    """The resolved spec without its seed and name: equal for repeats of one configuration."""
    data = entry.spec.resolved()
    data.pop("name", None)
    data.get("train", {}).pop("seed", None)
    return json.dumps(data, sort_keys=True)


def task_of(entry: Entry) -> str:
    return DENOISING if entry.spec.data.noise is not None else RECONSTRUCTION


def test_set_of(entry: Entry) -> tuple[str, str]:
    """(key, title) of the test images a run is scored on, whatever subset it scored: the
    data without noise and limits, the input size and the split's size."""
    data = entry.spec.resolved()["data"]
    for key in ("noise", "limit", "eval_limit"):
        data.pop(key, None)
    split = entry.metrics.get("test_split_images")
    key = json.dumps(
        {"data": data, "input": list(entry.spec.input), "split": split}, sort_keys=True
    )
    shape = "x".join(str(n) for n in entry.spec.input)
    where = f" {data['path']}" if data.get("path") else ""
    return key, f"{data['source']}{where} {shape}"


def make_groups(entries: list[Entry]) -> list[Group]:
    """Groups in order of their first run; each group's runs in the order given."""
    groups: dict[str, Group] = {}
    families: dict[tuple[str, str], Family] = {}
    for entry in entries:
        key = group_key(entry)
        if key not in groups:
            task = task_of(entry)
            test_key, title = test_set_of(entry)
            family = families.setdefault(
                (task, test_key), Family(task, test_key, f"{task} on {title}")
            )
            groups[key] = Group(len(groups) + 1, key, [], family)
        groups[key].entries.append(entry)
    result = list(groups.values())
    label_groups(result)
    return result


def families_of(groups: list[Group]) -> list[Family]:
    out: list[Family] = []
    for g in groups:
        if all(g.family is not f for f in out):
            out.append(g.family)
    return out


# --- labels --------------------------------------------------------------------------------
def label_groups(groups: list[Group]) -> None:
    points = [g.first.point for g in groups]
    same_sweep = len({str(g.first.sweep) for g in groups}) == 1
    if all(p is not None for p in points) and same_sweep and len({*map(_keys, points)}) == 1:
        terms = _point_terms(points)  # type: ignore[arg-type]
    else:
        terms = _spec_terms(groups)
        names = [g.first.spec.name for g in groups]
        if any(len(t) > MAX_TERMS for t in terms) and len(set(names)) == len(names):
            terms = [[] for _ in groups]  # specs too different to list: their names say it
    for group, group_terms in zip(groups, terms):
        group.label = _join(group_terms, group)


def _keys(point: dict[str, Any] | None) -> tuple[str, ...]:
    return tuple(sorted(point or {}))


def _join(terms: list[tuple[str, str]], group: Group) -> str:
    if not terms:
        return group.first.spec.name if group.first.point is None else ""
    if len(terms) > MAX_TERMS:
        more = f", +{len(terms) - MAX_TERMS + 1} more"
        return ", ".join(f"{k}={v}" for k, v in terms[: MAX_TERMS - 1]) + more
    return ", ".join(f"{k}={v}" for k, v in terms)


def short_path(path: str) -> str:
    if path in ALIASES:
        return ALIASES[path]
    for prefix in ("train.", "data."):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _point_terms(points: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """The sweep's dimensions that vary among the points (all of them for one point)."""
    names = list(points[0])
    varied = [n for n in names if len({_canonical(p.get(n)) for p in points}) > 1] or names
    texts = {n: _value_texts([p.get(n) for p in points]) for n in varied}
    return [[(short_path(n), texts[n][i]) for n in varied] for i in range(len(points))]


def _spec_terms(groups: list[Group]) -> list[list[tuple[str, str]]]:
    """The resolved specs' differences: a layer of another type is one term
    (`encoder[1]=max_pool2d`), otherwise each differing field (`encoder[0].filters=8`)."""
    if len(groups) == 1:
        return [[]]
    flats = [_flatten(_comparable(g.first)) for g in groups]
    paths = list(dict.fromkeys(p for flat in flats for p in flat))
    varied = [p for p in paths if len({_canonical(f.get(p, _ABSENT)) for f in flats}) > 1]
    varied = [p for p in varied if not _under_varied_layer(p, varied)]
    texts = {p: _value_texts([f.get(p, _ABSENT) for f in flats]) for p in varied}
    return [[(short_path(p), texts[p][i]) for p in varied] for i in range(len(groups))]


_ABSENT = "<absent>"


def _comparable(entry: Entry) -> dict[str, Any]:
    data = entry.spec.resolved()
    data.pop("name", None)
    data.get("train", {}).pop("seed", None)
    return data


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """Paths to values; a layer is `encoder[i]` (its type) plus `encoder[i].field`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("encoder", "decoder") and isinstance(value, list):
            for i, layer in enumerate(value):
                out[f"{key}[{i}]"] = layer.get("type") if isinstance(layer, dict) else layer
                for field_name, field_value in (layer or {}).items():
                    if field_name != "type":
                        out[f"{key}[{i}].{field_name}"] = field_value
        elif isinstance(value, dict) and key != "noise":
            out.update({f"{key}.{k}": v for k, v in _flatten(value).items()})
        elif key == "noise" and isinstance(value, dict):
            out[f"{key}.stddev"] = value.get("stddev")
        else:
            out[key] = value
    return out


def _under_varied_layer(path: str, varied: list[str]) -> bool:
    """`encoder[1].filters` when `encoder[1]` itself (its type, or its presence) varies."""
    layer = path.split(".", 1)[0]
    return layer != path and layer in varied


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _value_texts(values: list[Any]) -> list[str]:
    """Short texts for one dimension's values (a layer by its type), made longer where the
    short ones would not tell the values apart."""
    short = [_short_value(v) for v in values]
    distinct_values = {_canonical(v) for v in values}
    if len(set(short)) < len(distinct_values):
        return [_compact(v) for v in values]
    return short


def _short_value(value: Any) -> str:
    if value == _ABSENT or value is None:
        return "none"
    if isinstance(value, dict) and "type" in value:
        return str(value["type"])
    if isinstance(value, list) and all(isinstance(v, dict) and "type" in v for v in value):
        return "+".join(str(v["type"]) for v in value) or "none"
    return _compact(value)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
