"""Load a spec from YAML: safe parsing, validation, and errors mapped to file:line:col."""

from __future__ import annotations

import difflib
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from caegen.core.diagnostics import CaegenError, Diagnostic, Fix, Location
from caegen.core.inputs import read_input_text
from caegen.spec.schema import Source, Spec
from caegen.spec.textspan import scalar_edit
from caegen.spec.yamlpos import Positions, YamlSyntaxError, load_with_positions

SECTIONS = ("encoder", "decoder")
UNREADABLE_HINT = "check the path; `caegen init --list` shows starter specs"


def load(path: str | Path) -> Spec:
    """Read and validate a spec file. Raises `CaegenError` with located diagnostics (E001
    for a file that cannot be read as text, whatever the reason)."""
    return loads(read_input_text(path, "spec file", UNREADABLE_HINT), file=str(path))


def loads(text: str, file: str | None = None) -> Spec:
    """Validate a spec given as YAML text."""
    try:
        data, positions, duplicates = load_with_positions(text)
    except YamlSyntaxError as exc:
        raise CaegenError(
            [
                Diagnostic(
                    "E002",
                    f"invalid YAML: {exc.message}",
                    Location(file, exc.line, exc.column),
                    "fix the YAML syntax (indentation, brackets, quotes)",
                )
            ]
        ) from None
    if duplicates:
        raise CaegenError(
            [
                Diagnostic(
                    "E003",
                    f"duplicate key `{d.path[-1]}` in {_dotted(d.path[:-1]) or 'the spec'}",
                    Location(file, d.line, d.column, _dotted(d.path)),
                    "remove one of the two entries; YAML keeps only the last",
                )
                for d in duplicates
            ]
        )
    if data is None:
        raise CaegenError(
            [
                Diagnostic(
                    "E012",
                    "the spec is empty",
                    Location(file, 1, 1),
                    "write name, input, encoder and decoder; or start from a template: caegen init",
                )
            ]
        )
    if not isinstance(data, dict):
        raise CaegenError(
            [
                Diagnostic(
                    "E012",
                    "a spec must be a YAML mapping with name, input, encoder, decoder",
                    Location(file, 1, 1),
                    "start from a template: caegen init",
                )
            ]
        )
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise CaegenError(_diagnostics_from(exc, data, positions, file, text)) from None
    spec._source = Source(file, text, positions)
    return spec


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MEMBER_LABEL = re.compile(r"^(literal|tagged-union|function-[a-z]+|union)\[")


def _relevant(errors: list[Any], data: Any) -> list[Any]:
    """Of a `name | {mapping}` union's errors, those for the form the user wrote."""
    out = []
    for err in errors:
        loc = err["loc"]
        labels = [i for i, p in enumerate(loc) if isinstance(p, str) and _MEMBER_LABEL.match(p)]
        if labels:
            written = _value_at(data, [p for p in loc[: labels[0]]])
            label = loc[labels[0]]
            if label.startswith("literal[") and isinstance(written, dict):
                continue
            if label.startswith("tagged-union[") and not isinstance(written, dict):
                continue
        out.append(err)
    return out


def _value_at(data: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _walk(loc: tuple[Any, ...], data: Any) -> tuple[tuple[Any, ...], bool]:
    """Map a pydantic `loc` onto the data's key path, dropping union tags and member names.

    Returns the path and whether it resolved entirely (False: the last key is absent).
    """
    path: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(part, str) and _MEMBER_LABEL.match(part):
            continue  # a union member's label, e.g. `tagged-union[Adam,...]`
        if i and isinstance(loc[i - 1], int) and isinstance(cur, dict) and part == cur.get("type"):
            continue  # a layer's tag (first: the `activation` layer's tag is also a key)
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        if in_dict or in_list:
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, dict) and part in (cur.get("type"), cur.get("name")):
            continue  # a discriminated union's tag
        elif isinstance(cur, dict) and i == len(loc) - 1 and isinstance(part, str):
            path.append(part)  # a missing or extra key
            return tuple(path), False
        else:
            break  # union member names such as 'int' or 'tuple[...]'
    return tuple(path), True


def _model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `path` (for did-you-mean).

    A union (the layer types, the optimizers) is narrowed by the mapping's own tag, so a
    batch_norm's fields are offered for a batch_norm, not the first layer type's.
    """
    candidates: list[type[BaseModel]] = [Spec]
    node = data
    for part in path:
        if isinstance(part, str):
            field = _narrow(candidates, node).model_fields.get(part)
            candidates = _models_in(field.annotation) if field is not None else []
            if not candidates:
                return None
        node = node[part] if isinstance(node, (dict, list)) else None
    return _narrow(candidates, node)


def _narrow(candidates: list[type[BaseModel]], node: Any) -> type[BaseModel]:
    if len(candidates) > 1 and isinstance(node, dict):
        tag = node.get("type", node.get("name"))
        for cls in candidates:
            if tag in (_default(cls, "type"), _default(cls, "name")):
                return cls
    return candidates[0]


def _default(cls: type[BaseModel], key: str) -> Any:
    field = cls.model_fields.get(key)
    return field.default if field is not None else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            out.extend(_models_in(arg))
    return out


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring = 2, 5, 4, 60


def _short_repr(value: Any) -> str:
    """A bounded repr: YAML aliases can make a value's full repr exponentially long."""
    return _SHORT.repr(value)


def _rename_fix(
    key: str, known: list[str], owner: Any, at: tuple[int, int] | None, text: str | None
) -> tuple[Fix, ...]:
    """Rename a misspelt key to its only close match (safe: the key as meant), unless the
    mapping has that key already."""
    close = difflib.get_close_matches(key, known, n=2, cutoff=0.8)
    if len(close) != 1 or at is None or text is None:
        return ()
    if isinstance(owner, dict) and close[0] in owner:
        return ()
    edit = scalar_edit(text, *at, key, close[0])
    return (Fix(f"rename `{key}` to `{close[0]}`", (edit,), "safe"),) if edit else ()


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`? " if close else ""


@dataclass
class _Finding:
    """One pydantic error, placed in the spec: its path, location and the data around it."""

    err: dict[str, Any]
    path: tuple[Any, ...]
    resolved: bool
    loc: Location
    data: Any
    positions: Positions
    file: str | None
    text: str | None

    @property
    def where(self) -> str:
        return _dotted(self.path) or "the spec"


def _diagnostics_from(
    exc: ValidationError, data: Any, positions: Positions, file: str | None, text: str | None = None
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[tuple[Any, ...], int] = {}
    for err in _relevant(exc.errors(include_url=False), data):
        if err["loc"][:1] == ("input",):  # one diagnostic, however many parts are wrong
            if ("input",) not in seen:
                out.append(_input_shape_diagnostic(data, positions, file))
                seen[("input",)] = len(out) - 1
            continue
        path, resolved = _walk(tuple(err["loc"]), data)
        pos = positions.lookup(path, prefer_key=err["type"] == "extra_forbidden")
        loc = Location(file, *(pos or (None, None)), _dotted(path) or None)
        finding = _Finding(err, path, resolved, loc, data, positions, file, text)
        diag = _BY_KIND.get(err["type"], _invalid_value)(finding)
        if path in seen and diag.code == "E012":
            # a union field fails once per member; keep one diagnostic per key
            continue
        seen[path] = len(out)
        out.append(diag)
    return out


def _unknown_field(f: _Finding) -> Diagnostic:
    path, data = f.path, f.data
    model = _model_at(path[:-1], data)
    known = sorted(k for k in (model.model_fields if model else {}) if k != "type")
    key = str(path[-1])
    owner = data_at(data, path[:-1]) if f.resolved or len(path) > 1 else None
    advice = _ACTIVATION_ARGUMENTS.get(key) if _is_activation_layer(owner) else None
    return Diagnostic(
        "E011",
        f"unknown field `{key}` in {_dotted(path[:-1]) or 'the spec'}",
        f.loc,
        advice or f"{_did_you_mean(key, known)}known fields: {', '.join(known)}",
        fixes=_rename_fix(key, known, owner, f.positions.key_at.get(path), f.text),
    )


def _unknown_tag(f: _Finding) -> Diagnostic:
    ctx = f.err.get("ctx", {})
    tag = str(ctx.get("tag"))
    expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
    here = data_at(f.data, f.path)
    key = "type" if isinstance(here, dict) and "type" in here else "name"
    tag_pos = f.positions.lookup((*f.path, key))
    loc = Location(f.file, *(tag_pos or (None, None)), f"{f.where}.{key}")
    what = "layer type" if key == "type" else f"{f.path[-1]} name"
    keras_name = _KERAS_CLASSES.get(tag) if key == "type" else None
    hint = (
        f"`{tag}` is Keras's class name: write `type: {keras_name}`. "
        if keras_name
        else _did_you_mean(tag, expected)
    )
    return Diagnostic(
        "E010", f"unknown {what} `{tag}` at {f.where}", loc, f"{hint}known: {', '.join(expected)}"
    )


def _missing_tag(f: _Finding) -> Diagnostic:
    key = str(f.err.get("ctx", {}).get("discriminator", "type")).strip("'")
    return Diagnostic(
        "E013",
        f"{f.where} has no `{key}`",
        f.loc,
        f"add `{key}:`, e.g. {{type: conv2d, filters: 32, kernel_size: 3}}"
        if key == "type"
        else f"add `{key}:`",
    )


def _cross_field(f: _Finding) -> Diagnostic:
    ctx = f.err.get("ctx", {})
    field_path = (*f.path, ctx["field"], *([ctx["index"]] if "index" in ctx else []))
    pos = f.positions.lookup(field_path) or f.positions.lookup(f.path)
    return Diagnostic(
        "E012",
        f"invalid value for {f.where}: {f.err['msg']}",
        Location(f.file, *(pos or (None, None)), _dotted(field_path)),
        ctx["hint"],
    )


def _missing(f: _Finding) -> Diagnostic:
    field = str(f.path[-1]) if not f.resolved else str(f.err["loc"][-1])
    parent = _dotted(f.path[:-1]) if not f.resolved else f.where
    return Diagnostic(
        "E013",
        f"missing required field `{field}` in {parent or 'the spec'}",
        f.loc,
        f"add `{field}:` to {parent or 'the spec'}",
    )


def _invalid_value(f: _Finding) -> Diagnostic:
    msg = f.err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return Diagnostic(
        "E012",
        f"invalid value for {f.where}: {msg[0].lower() + msg[1:]}"
        f" (received {_short_repr(f.err.get('input'))})",
        f.loc,
        _value_hint(f.path, f.err["type"]),
    )


_BY_KIND = {
    "extra_forbidden": _unknown_field,
    "union_tag_invalid": _unknown_tag,
    "union_tag_not_found": _missing_tag,
    "cross_field": _cross_field,
    "missing": _missing,
}


def _input_shape_diagnostic(data: Any, positions: Positions, file: str | None) -> Diagnostic:
    """`input` is H, W, C: say so, with the likely fix (a gray image's missing channel)."""
    value = data.get("input") if isinstance(data, dict) else None
    pos = positions.lookup(("input",))
    ints = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if ints and len(value) == 2:
        h, w = value
        hint = f"write [{h}, {w}, 1] for gray images or [{h}, {w}, 3] for RGB"
    else:
        hint = "write three positive integers, e.g. [28, 28, 1] (gray) or [32, 32, 3] (RGB)"
    return Diagnostic(
        "E012",
        f"invalid value for input: a spec's input is H, W, C (height, width, channels), "
        f"three positive integers (received {_short_repr(value)})",
        Location(file, *(pos or (None, None)), "input"),
        hint,
    )


# Arguments of Keras's activation layers, written on caegen's plain `activation` layer.
_ACTIVATION_ARGUMENTS = {
    "alpha": "the plain activation layer takes no arguments: use {type: leaky_relu, "
    "negative_slope: ...} (Keras 2 called it alpha) or {type: elu, alpha: ...}",
    "negative_slope": "use {type: leaky_relu, negative_slope: ...} (or {type: relu, "
    "negative_slope: ...})",
    "max_value": "use {type: relu, max_value: ...}",
    "threshold": "use {type: relu, threshold: ...}",
    "shared_axes": "use {type: prelu, shared_axes: [...]}",
}


def _is_activation_layer(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "activation"


def _keras_class_names() -> dict[str, str]:
    from caegen.spec.layers import LAYER_BY_TYPE

    return {cls.keras_class: tag for tag, cls in LAYER_BY_TYPE.items()}


_KERAS_CLASSES = _keras_class_names()


def data_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _value_hint(path: tuple[Any, ...], kind: str) -> str:
    key = str(path[-1]) if path else ""
    if key in ("kernel_size", "strides", "pool_size", "size", "dilation_rate"):
        return f"`{key}` takes a positive int or a pair of positive ints, e.g. 3 or [3, 3]"
    if key in ("filters", "units", "groups", "depth_multiplier"):
        return f"`{key}` takes a positive integer"
    if key == "input":
        return "`input` is [height, width, channels], e.g. [28, 28, 1]"
    if kind.startswith("literal"):
        return "use one of the values listed above"
    return "see `caegen schema` for the allowed values"
