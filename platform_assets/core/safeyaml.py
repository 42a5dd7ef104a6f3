"""Untrusted YAML, read with limits: the one YAML reader for specs, manifests, commits and backups.

Everything this project reads as YAML can come from someone who should not be able to stop or
crash it: a commit on the spec branch, a manifest in it, an object in the backup bucket. PyYAML's
loaders expand aliases without limit (a 10 KB "billion laughs" document takes gigabytes), libyaml's
composer recurses in C on nesting (a few hundred kilobytes of ``[`` crash the interpreter), and
``yaml.safe_load`` keeps the last of two equal keys. So this module parses events with libyaml (or
PyYAML's pure parser where libyaml is missing), composes nodes itself without recursion and
constructs the data with these limits, each refused with a :class:`YamlError` naming file and line:

- at most :data:`MAX_BYTES` of text per file, :data:`MAX_NODES` nodes and :data:`MAX_DEPTH` levels
  of nesting (aliases count where they are used);
- aliases may copy at most :data:`MAX_ALIAS_NODES` nodes per file (anchors that are used a few
  times in a manifest are fine; exponential expansion stops at once);
- an alias must name an anchor that is complete before it (no self-reference);
- keys are scalars and appear once per mapping (merge keys ``<<`` may be overridden, as YAML says);
- scalars that cannot be constructed (an int of 10,000 digits, an unknown tag) are errors.

Pure: PyYAML only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_ALIAS_NODES = 10_000

Loc = tuple[Any, ...]
Marker = Callable[[Loc, int], None]

# libyaml's parser when PyYAML has it (the wheels do): the pure-Python one was most of the time
# the code location took to load a large spec. Both give the same events with their lines.
_Loader: Any = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class YamlError(ValueError):
    """YAML that is malformed or over a limit; ``str()`` is ``file:line: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file, self.line, self.message = file, line, message
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


@dataclass(frozen=True)
class Document:
    """One document of a YAML stream: its data and the 1-based line it starts on."""

    data: Any
    line: int


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


class _Open:
    """A collection being composed; a mapping's key waits here for its value."""

    __slots__ = ("anchor", "key", "node")

    def __init__(self, node: yaml.Node, anchor: str | None) -> None:
        self.node, self.anchor = node, anchor
        self.key: yaml.Node | None = None

    def add(self, child: yaml.Node) -> None:
        if not isinstance(self.node, yaml.MappingNode):
            self.node.value.append(child)
        elif self.key is None:
            self.key = child
        else:
            self.node.value.append((self.key, child))
            self.key = None


class _Composer:
    """Events to nodes with an explicit stack (no recursion), counting nodes and depth."""

    def __init__(self, loader: Any, file: str) -> None:
        self.loader, self.file = loader, file
        self.nodes = 0

    def error(self, event: Any, message: str) -> YamlError:
        return YamlError(self.file, _line(event.start_mark), message)

    def documents(self) -> list[yaml.Node]:
        docs: list[yaml.Node] = []
        get = self.loader.get_event
        get()  # StreamStartEvent
        while not isinstance(get(), yaml.StreamEndEvent):  # each DocumentStartEvent
            docs.append(self.document(get))
        return docs

    def document(self, get: Callable[[], Any]) -> yaml.Node:
        anchors: dict[str, yaml.Node] = {}
        stack: list[_Open] = []
        root: yaml.Node | None = None
        while root is None:
            event = get()
            node = self.node(event, anchors, stack)
            if node is not None and not stack:
                root = node
            elif node is not None:
                stack[-1].add(node)
        get()  # DocumentEndEvent
        return root

    def node(self, event: Any, anchors: dict[str, yaml.Node],
             stack: list[_Open]) -> yaml.Node | None:
        """The node ``event`` completes, or None when it opens a collection."""
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise self.error(event, f"alias *{event.anchor} names no complete anchor before "
                                        "it (aliases cannot refer to an enclosing node)")
            return anchors[event.anchor]
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            done = stack.pop()
            if done.anchor is not None:
                anchors[done.anchor] = done.node
            return done.node
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(event, f"more than {MAX_NODES} YAML nodes in one file")
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(
                yaml.ScalarNode, event.value, event.implicit)
            mark: Any = event.start_mark
            scalar = yaml.ScalarNode(tag, event.value, mark, mark, event.style)
            if event.anchor is not None:
                anchors[event.anchor] = scalar
            return scalar
        if len(stack) >= MAX_DEPTH:
            raise self.error(event, f"nesting deeper than {MAX_DEPTH} levels")
        cls = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(
            cls, None, event.implicit)
        if tag not in _COLLECTION_TAGS:
            raise self.error(event, f"tag {tag} is not allowed here: a plain mapping or list "
                                    "is expected")
        collection = cls(tag, [], event.start_mark, event.start_mark, event.flow_style)
        stack.append(_Open(collection, event.anchor))
        return None


class _Constructor:
    """Nodes to Python data, copying aliased nodes under a budget; reports lines to ``mark``."""

    def __init__(self, loader: Any, file: str, budget: int, mark: Marker | None) -> None:
        self.loader, self.file, self.budget, self.mark = loader, file, budget, mark

    def error(self, node: yaml.Node, message: str) -> YamlError:
        return YamlError(self.file, _line(node.start_mark), message)

    def build(self, node: yaml.Node, loc: Loc, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.error(node, f"aliases expand to more than {MAX_ALIAS_NODES} nodes "
                                   "(an alias bomb?); write the values out instead")
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels (through aliases)")
        if self.mark is not None:
            self.mark(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*loc, i), depth + 1) for i, v in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR:
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.error(node, f"cannot read the value {str(node.value)[:40]!r}: "
                                   f"{exc.problem}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise self.error(node, f"cannot read the value {str(node.value)[:40]!r}: "
                                   f"{exc}") from None

    def key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "a mapping key must be a scalar (a string or a number)")
        return self.scalar(node)

    def mapping(self, node: yaml.Node, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self.key(key_node)
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} (also earlier in this mapping)")
            out[key] = self.build(value_node, (*loc, key), depth + 1)
        for source in merges:
            for key, value in self.merged(source, loc, depth).items():
                out.setdefault(key, value)
        return out

    def merged(self, node: yaml.Node, loc: Loc, depth: int) -> dict[Any, Any]:
        """The keys a ``<<`` value brings: one mapping, or a list of them (earlier wins)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.error(source, "a merge key << takes a mapping or a list of mappings")
            for key, value in self.build(source, (*loc, "<<"), depth + 1).items():
                out.setdefault(key, value)
        return out


def _documents(text: str | bytes, file: str) -> tuple[Any, list[yaml.Node], int]:
    if len(text) > MAX_BYTES:
        raise YamlError(file, None, f"{len(text)} bytes is over the limit of {MAX_BYTES} for "
                                    "one YAML file")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(file, None, f"not UTF-8 text (byte {exc.start}: {exc.reason})"
                            ) from None
    loader = _Loader(text)
    composer = _Composer(loader, file)
    try:
        return loader, composer.documents(), composer.nodes
    except yaml.MarkedYAMLError as exc:
        loader.dispose()
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(s for s in (exc.context, exc.problem) if s) or str(exc)
        raise YamlError(file, _line(mark), f"YAML syntax error: {msg}") from None
    except yaml.YAMLError as exc:  # e.g. ReaderError: a character YAML does not allow
        loader.dispose()
        where = getattr(exc, "position", None)
        line = text[:where].count("\n") + 1 if isinstance(where, int) else None
        raise YamlError(file, line, f"YAML syntax error: {exc}") from None
    except YamlError:
        loader.dispose()
        raise


def load_all(text: str | bytes, file: str) -> list[Document]:
    """Every document of a YAML stream (empty documents included, as None).

    Raises:
        YamlError: malformed, or over a limit; names ``file`` and the line.
    """
    loader, nodes, count = _documents(text, file)
    try:
        build = _Constructor(loader, file, count + MAX_ALIAS_NODES, None).build
        return [Document(build(n, ()), n.start_mark.line + 1) for n in nodes]
    finally:
        loader.dispose()


def load_one(text: str | bytes, file: str, mark: Marker | None = None) -> Any:
    """The single document of ``text`` (None when empty); ``mark(field path, line)`` is called
    for every node, so callers can name the line of a field in their own errors.

    Raises:
        YamlError: malformed, over a limit, or more than one document.
    """
    loader, nodes, count = _documents(text, file)
    try:
        if len(nodes) > 1:
            raise YamlError(file, _line(nodes[1].start_mark), "expected a single document, "
                                                              "found another one here")
        if not nodes:
            return None
        return _Constructor(loader, file, count + MAX_ALIAS_NODES, mark).build(nodes[0], ())
    finally:
        loader.dispose()
