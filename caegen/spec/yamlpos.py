"""Safe YAML loading that remembers where every value came from.

`load_with_positions(text)` returns the plain Python data (as `yaml.safe_load` would) and a
`Positions` map from a key path such as `("encoder", 3, "filters")` to its 1-based
line and column. Duplicate keys, which YAML silently collapses, are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

PathKey = tuple[Any, ...]


@dataclass
class Positions:
    value_at: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_at: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def lookup(self, path: Sequence[Any], *, prefer_key: bool = False) -> tuple[int, int] | None:
        """The position of `path`, or of its closest ancestor that has one."""
        p = tuple(path)
        while True:
            if prefer_key and p in self.key_at:
                return self.key_at[p]
            if p in self.value_at:
                return self.value_at[p]
            if not p:
                return None
            p = p[:-1]


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class DuplicateKey:
    path: PathKey
    line: int
    column: int


# libyaml's parser (shipped in PyYAML's wheels) composes ~10x faster and keeps node marks.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# Far deeper than any spec; a guard against exhausting Python's recursion limit.
MAX_DEPTH = 64


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.positions = Positions()
        self.duplicates: list[DuplicateKey] = []
        # An alias shares its anchor's value, as in `yaml.safe_load`. Building it once keeps
        # nested aliases ("billion laughs") from expanding exponentially.
        self.built: dict[int, Any] = {}

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if id(node) in self.built:
            # an alias: its node carries the anchor's mark, so point at the key that uses it
            self.positions.value_at[path] = self.positions.key_at.get(path, _mark(node))
            return self.built[id(node)]
        self.positions.value_at[path] = _mark(node)
        if len(path) > MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", node.start_mark
            )
        value = self._construct(node, path)
        self.built[id(node)] = value
        return value

    def _construct(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"unsupported tag {node.tag!r}: a spec is plain data", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            self._find_duplicates(node, path)
            # `<<: *anchor` entries come first after flattening, so explicit keys override them
            self.loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                child = (*path, self._key(key_node))
                self.positions.key_at[child] = _mark(key_node)
                result[child[-1]] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _key(self, key_node: yaml.Node) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        return self._scalar(key_node)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:  # Python refuses int() of more than 4,300 digits
            raise yaml.constructor.ConstructorError(
                None, None, f"the number `{str(node.value)[:20]}...` is too long", node.start_mark
            ) from None

    def _find_duplicates(self, node: yaml.MappingNode, path: PathKey) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self._key(key_node)
            if key in seen:
                self.duplicates.append(DuplicateKey((*path, key), *_mark(key_node)))
            seen.add(key)


def _reader_error(exc: yaml.reader.ReaderError, text: str) -> YamlSyntaxError:
    """The character, its line and column (PyYAML gives only an offset)."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    what = "a NUL byte" if char == 0 else f"the control character #x{char:04x}"
    return YamlSyntaxError(f"{what} is not allowed in YAML", line, column)


def load_with_positions(text: str) -> tuple[Any, Positions, list[DuplicateKey]]:
    try:
        loader = SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        raise _reader_error(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None, Positions(), []
        builder = _Builder(loader)
        data = builder.build(root, ())
        return data, builder.positions, builder.duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlSyntaxError(problem, line, col) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from None
    finally:
        loader.dispose()
