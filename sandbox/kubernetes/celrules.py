"""CustomResourceDefinition validation rules (``x-kubernetes-validations``): the CEL rules the
apiextensions-apiserver of Kubernetes v1.32 checks on every create and update of a custom
resource (PUT, every patch type, server-side apply, status writes, dry runs alike), and the
checks of the rules themselves when a CRD is written.

Sources: k8s.io/apiextensions-apiserver v1.32 ``pkg/apiserver/schema/cel/validation.go``
(``Validator.validate``, ``validateExpressions``, ``fieldErrorForReason``, ``ValidFieldPath``),
``compilation.go`` (``compileRule``: ``UsesOldSelf``), ``pkg/registry/customresource/
strategy.go`` (``Validate``, ``ValidateUpdate``, ``hasBlockingErr``), ``pkg/apis/apiextensions/
validation/validation.go`` (the rules of a CRD being written); k8s.io/apiserver ``pkg/cel/
common/values.go`` (``UnstructuredToVal``), ``common/equality.go`` (ratcheting) and
``pkg/cel/escaping.go``; the Kubernetes docs "Extend the Kubernetes API with
CustomResourceDefinitions", section "Validation rules".

What is emulated:

- Rules at any schema node (properties, ``items``, ``additionalProperties``, ``allOf``), with
  ``self`` bound to that node's value; a node whose value is absent or null is not checked.
- Values as Kubernetes types them: an object exposes only its declared properties (escaped:
  ``__dash__``, ``__dot__``...; a null field is absent), the resource root and an
  ``x-kubernetes-embedded-resource`` only ``apiVersion``, ``kind`` and ``metadata.name``/
  ``generateName``; maps from ``additionalProperties``; ``number`` is a double; strings of
  format ``date``/``date-time`` are timestamps, ``duration`` durations, ``byte`` bytes;
  ``x-kubernetes-int-or-string`` an int or a string; lists of ``x-kubernetes-list-type`` set
  or map compare without order; equality of objects includes their unknown fields.
- Transition rules: a rule that names ``oldSelf`` runs only on update where the old value
  correlates (same property or ``additionalProperties`` key, the item of a ``map`` list with
  the same keys), unless ``optionalOldSelf: true`` (then ``oldSelf`` is an optional value:
  ``hasValue()``, ``value()``, ``orValue(x)``).
- A failed rule is a field error at the node's path (the root is ``<nil>``), or at the node's
  path and the rule's ``fieldPath``: by ``reason`` Invalid (default, ``Invalid value: "<type>":
  <message>``), Forbidden, Required or Duplicate; the message is ``messageExpression``'s
  one-line string, else ``message``, else ``failed rule: <rule>``. A rule that fails to
  evaluate is ``Invalid value: "<type>": <error> evaluating rule: <rule>``.
- Ratcheting (CRDValidationRatcheting, on by default since v1.30): on update, a rule without
  ``oldSelf`` that fails on a value equal to its old value is a ``Warning`` header, not an
  error.
- Rules are not evaluated when the schema validation found blocking errors (type, enum,
  required, too long, too many); the response then adds ``<nil>: Invalid value: "null": some
  validation rules were not checked because the object was invalid; correct the existing
  errors to complete validation``.
- A CRD whose rule is empty, does not parse, selects through ``self``/``oldSelf`` a field its
  schema does not declare (cel-go's ``undefined field``), has an unknown ``reason``, an
  invalid ``fieldPath``, a message with line breaks, ``oldSelf`` under a list that is not a
  ``map`` list, or ``optionalOldSelf`` without ``oldSelf`` is refused with 422.

Not emulated: what ``cel.py`` lists (the Kubernetes CEL libraries and cel-go's extensions: a
rule calling one fails when evaluated, so the write is refused; the optional syntax does not
parse, so such a CRD is refused), the rest of type checking when the CRD is written (a rule
that does not return a bool, calls a function with the wrong types or selects a field of a
comprehension variable is accepted, and fails when evaluated), cost estimates and budgets,
the ratcheting of the OpenAPI schema validation itself.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.kubernetes.cel import CelError, Expression, celpy, is_true, optional_none, optional_of

Json = dict[str, Any]
Cause = tuple[str, str]

REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
           "FieldValueRequired")
NOT_CHECKED = ("<nil>", 'Invalid value: "null": some validation rules were not checked because '
               "the object was invalid; correct the existing errors to complete validation")
_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
             "function", "if", "import", "let", "loop", "package", "namespace", "return",
             "var", "void", "while"}
_EXPAND = re.compile(r"(__|[-./]|[^a-zA-Z0-9\-./_])")
_ESCAPES = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
_STRING = {"type": "string"}
_TYPE_META = {"apiVersion": _STRING, "kind": _STRING, "metadata": {
    "type": "object", "properties": {"name": _STRING, "generateName": _STRING}}}


def escape(name: str) -> str | None:
    """pkg/cel/escaping.go ``Escape``: a property's CEL name, None if it has none."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    ok = True

    def sub(m: re.Match[str]) -> str:
        nonlocal ok
        if m.group(0) not in _ESCAPES:
            ok = False
            return ""
        return _ESCAPES[m.group(0)]

    out = _EXPAND.sub(sub, name)
    return out if ok else None


@functools.lru_cache(maxsize=2048)
def compiled(source: str) -> Expression:
    return Expression.compile(source)


def has_rules(s: Any) -> bool:
    """Whether a schema has ``x-kubernetes-validations`` anywhere."""
    return any(node.get("x-kubernetes-validations") for node, _, _ in _nodes(s, "", ""))


def _nodes(s: Any, path: str, uncorrelatable: str) -> Iterator[tuple[Json, str, str]]:
    """Every schema node with its field path in the CRD and, under a list that is not a
    ``map`` list, the path of the outermost such list (validation.go
    ``withForbidOldSelfValidations``)."""
    if not isinstance(s, dict):
        return
    yield s, path, uncorrelatable
    for k, sub in (s.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.properties[{k}]", uncorrelatable)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _nodes(extra, f"{path}.additionalProperties", uncorrelatable)
    items = s.get("items")
    if isinstance(items, dict):
        if not uncorrelatable and s.get("x-kubernetes-list-type") != "map":
            uncorrelatable = path
        yield from _nodes(items, f"{path}.items", uncorrelatable)
    for i, sub in enumerate(s.get("allOf") or []):
        yield from _nodes(sub, f"{path}.allOf[{i}]", uncorrelatable)


def crd_causes(crd: Json) -> list[Cause]:
    """What the API server refuses in the ``x-kubernetes-validations`` of a CRD being written
    (validation.go ``ValidateCustomResourceDefinitionOpenAPISchema``)."""
    out: list[Cause] = []
    spec = crd.get("spec")
    versions = spec.get("versions") if isinstance(spec, dict) else None
    for i, version in enumerate(versions if isinstance(versions, list) else []):
        root = ((version or {}).get("schema") or {}).get("openAPIV3Schema") \
            if isinstance(version, dict) else None
        base = f"spec.versions[{i}].schema.openAPIV3Schema"
        for node, path, uncorrelatable in _nodes(root, base, ""):
            for j, rule in enumerate(node.get("x-kubernetes-validations") or []):
                out += _rule_causes(node, rule if isinstance(rule, dict) else {},
                                    f"{path}.x-kubernetes-validations[{j}]", uncorrelatable,
                                    path == base)
    return out


def _go_rule(rule: Json) -> str:
    """The rule as ``field.Invalid`` prints the internal ``apiextensions.ValidationRule``
    (``%#v``; Go prints a set pointer as its address)."""
    def text(k: str) -> str:
        return json.dumps(str(rule.get(k) or ""))

    reason = ("(*apiextensions.FieldValueErrorReason)(nil)" if rule.get("reason") is None
              else "(*apiextensions.FieldValueErrorReason)(0xc000a1b2c0)")
    optional = ("(*bool)(nil)" if rule.get("optionalOldSelf") is None
                else "(*bool)(0xc000a1b2c8)")
    return (f"apiextensions.ValidationRule{{Rule:{text('rule')}, Message:{text('message')}, "
            f"MessageExpression:{text('messageExpression')}, Reason:{reason}, "
            f"FieldPath:{text('fieldPath')}, OptionalOldSelf:{optional}}}")


def _rule_causes(node: Json, rule: Json, path: str, uncorrelatable: str,
                 resource_root: bool) -> list[Cause]:
    source = str(rule.get("rule") or "")
    out = _text_causes(rule, path) + _field_path_causes(node, rule.get("fieldPath"), path)
    if out or not source.strip():
        return out  # the server compiles no rule of a schema with such errors
    expr = compiled(source)
    if expr.program is None:
        return [(f"{path}.rule", f"Invalid value: {_go_rule(rule)}: {expr.error}")]
    undefined = undefined_fields(expr, node, resource_root, bool(rule.get("optionalOldSelf")))
    if undefined:
        return [(f"{path}.rule", f"Invalid value: {_go_rule(rule)}: compilation failed: "
                 + "\n".join(undefined))]
    msg_expr = str(rule.get("messageExpression") or "")
    if msg_expr.strip() and compiled(msg_expr).program is None:
        out.append((f"{path}.messageExpression", f"Invalid value: {_go_rule(rule)}: "
                    f"messageExpression {compiled(msg_expr).error}"))
    if expr.uses("oldSelf"):
        if uncorrelatable:
            out.append((f"{path}.rule", f"Invalid value: {json.dumps(source)}: oldSelf cannot "
                        "be used on the uncorrelatable portion of the schema within "
                        f"{uncorrelatable}"))
    elif rule.get("optionalOldSelf") is not None:
        out.append((f"{path}.optionalOldSelf", f"Invalid value: "
                    f"{str(bool(rule['optionalOldSelf'])).lower()}: may not be set if oldSelf "
                    "is not used in rule"))
    return out


def undefined_fields(expr: Expression, s: Json, resource_root: bool,
                     optional_old_self: bool) -> list[str]:
    """The type checker's ``undefined field`` errors, as cel-go words them (``ERROR:
    <input>:1:5: undefined field 'x'`` with the line and a caret), for selections through
    ``self`` (and ``oldSelf``) of a field its schema does not declare: an object exposes only
    its declared properties with a type (``common.SchemaDeclType``; the resource root and an
    embedded resource ``apiVersion``, ``kind`` and ``metadata.name``/``generateName``), a map
    from ``additionalProperties`` any key. Other type errors are not checked."""
    if not s.get("type") or expr.tree is None:
        return []  # an allOf entry: its types are its parent's
    roots: dict[str, tuple[Json, bool]] = {"self": (s, resource_root)}
    if not optional_old_self:
        roots["oldSelf"] = (s, resource_root)
    lines = expr.source.splitlines() or [""]
    out = []
    for node in expr.tree.iter_subtrees_topdown():
        if node.data != "member_dot":
            continue
        base = _member_schema(node.children[0], roots)
        token = node.children[1]
        if base is not None and _field(base, str(token)) is False:
            col = max(int(token.column) - 1, 1)
            text = lines[int(token.line) - 1]
            out.append(f"ERROR: <input>:{token.line}:{col}: undefined field '{token}'\n | "
                       f"{text}\n | {'.' * (col - 1)}^")
    return out


def _member_schema(member: Any, roots: dict[str, tuple[Json, bool]]) -> tuple[Json, bool] | None:
    """The schema (and whether it is a resource root) of a ``member`` parse node that selects
    fields from ``self``/``oldSelf``; None for anything else or a value of no known shape."""
    children = getattr(member, "children", None) or [None]
    child: Any = children[0]
    data = getattr(child, "data", None)
    if data == "primary":
        inner = child.children[0]
        if getattr(inner, "data", None) == "ident":
            return roots.get(str(inner.children[0]))
        return None
    if data == "member_dot":
        base = _member_schema(child.children[0], roots)
        found = _field(base, str(child.children[1])) if base is not None else None
        return found if isinstance(found, tuple) else None
    return None


def _field(base: tuple[Json, bool], name: str) -> tuple[Json, bool] | bool | None:
    """The schema of field ``name`` of an object, False if the object does not declare it,
    None where the type is not an object CEL knows the fields of (dyn, a map, a list...)."""
    s, root = base
    if s.get("x-kubernetes-int-or-string") or s.get("type") != "object":
        return None
    props = dict(s.get("properties") or {})
    if root or s.get("x-kubernetes-embedded-resource"):
        props.update(_TYPE_META)
    extra = s.get("additionalProperties")
    if not props and isinstance(extra, dict):
        return (extra, bool(extra.get("x-kubernetes-embedded-resource"))) \
            if _has_decl_type(extra) else None
    for k, p in props.items():
        if escape(k) == name and isinstance(p, dict) and _has_decl_type(p):
            return p, bool(p.get("x-kubernetes-embedded-resource"))
    return False


def _has_decl_type(s: Json) -> bool:
    """Whether ``common.SchemaDeclType`` gives the schema a CEL type (else CEL cannot see it)."""
    if s.get("x-kubernetes-int-or-string"):
        return True
    typ = s.get("type")
    if typ == "array":
        items = s.get("items")
        return isinstance(items, dict) and _has_decl_type(items)
    if typ == "object" and "additionalProperties" in s and not s.get("properties"):
        extra = s["additionalProperties"]
        return not isinstance(extra, dict) or _has_decl_type(extra)
    return typ in ("object", "string", "boolean", "number", "integer")


def _text_causes(rule: Json, path: str) -> list[Cause]:
    """The rule, message, messageExpression and reason fields of one rule."""
    out: list[Cause] = []
    source, message = str(rule.get("rule") or ""), str(rule.get("message") or "")
    if not source.strip():
        out.append((f"{path}.rule", "Required value: rule is not specified"))
    elif message and not message.strip():
        out.append((f"{path}.message", f"Invalid value: {json.dumps(message)}: message must "
                    "be non-empty if specified"))
    elif "\n" in message.strip():
        out.append((f"{path}.message", f"Invalid value: {json.dumps(message)}: message must "
                    "not contain line breaks"))
    elif "\n" in source.strip() and not message.strip():
        out.append((f"{path}.message", "Required value: message must be specified if rule "
                    "contains line breaks"))
    msg_expr = str(rule.get("messageExpression") or "")
    if msg_expr and not msg_expr.strip():
        out.append((f"{path}.messageExpression", "Required value: messageExpression must be "
                    "non-empty if specified"))
    reason = rule.get("reason")
    if reason is not None and reason not in REASONS:
        listed = ", ".join(f'"{r}"' for r in REASONS)
        out.append((f"{path}.reason", f'Unsupported value: "{reason}": supported values: '
                    f"{listed}"))
    return out


def _field_path_causes(node: Json, field_path: Any, path: str) -> list[Cause]:
    if not isinstance(field_path, str) or not field_path:
        return []
    out: list[Cause] = []
    rendered = json.dumps(field_path)
    if not field_path.strip():
        out.append((f"{path}.fieldPath", f"Invalid value: {rendered}: fieldPath must be "
                    "non-empty if specified"))
    if "\n" in field_path:
        out.append((f"{path}.fieldPath", f"Invalid value: {rendered}: fieldPath must not "
                    "contain line breaks"))
    if field_path_of(field_path, node) is None:
        out.append((f"{path}.fieldPath", f"Invalid value: {rendered}: fieldPath must be a "
                    "valid path"))
    return out


def field_path_of(path: str, s: Json) -> str | None:
    """validation.go ``ValidFieldPath``: ``.a.b`` and ``['a.b']`` through properties and
    additionalProperties, as the field path it names (``a.b``, ``x[key]``); None if it does not
    name a field of the schema."""
    out, node, i = "", s, 0
    while i < len(path):
        if path[i] == ".":
            m = re.match(r"[^.\[\]]+", path[i + 1:])
            if not m:
                return None
            name, i = m.group(0), i + 1 + len(m.group(0))
        elif path.startswith("['", i):
            end = path.find("']", i + 2)
            if end < 0:
                return None
            name, i = path[i + 2:end].replace("\\'", "'"), end + 2
        else:
            return None
        if not isinstance(node, dict):
            return None
        if node.get("properties") is not None:
            if name not in node["properties"]:
                return None
            node = node["properties"][name]
            out = f"{out}.{name}" if out else name
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
            out = f"{out}[{name}]"
        else:
            return None
    return out


class _Object(dict):  # type: ignore[type-arg]
    """An object's CEL value: its declared properties, compared with its unknown fields too
    (values.go ``unstructuredMap.Equal``)."""

    raw: Json = {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Object):
            return dict.__eq__(self, other)
        if len(self.raw) != len(other.raw) or dict(self) != dict(other):
            return False
        return all(other.raw.get(k) == v for k, v in self.raw.items() if k not in self.declared)

    def __ne__(self, other: object) -> bool:
        return not self == other

    declared: frozenset[str] = frozenset()
    __hash__ = None  # type: ignore[assignment]


class _Unordered(list):  # type: ignore[type-arg]
    """A ``set`` or ``map`` list: equal to a list of the same items in any order
    (values.go ``unstructuredSetList.Equal``, ``unstructuredMapList.Equal``)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list) or len(self) != len(other):
            return False
        return all(any(bool(x == y) for y in other) for x in self)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


@functools.cache
def _value_types() -> tuple[type, type]:
    """The CEL-typed flavours of ``_Object`` and ``_Unordered`` (cel-python's MapType and
    ListType, imported with cel-python on first use)."""
    celtypes = celpy().celtypes
    obj = type("ObjectValue", (_Object, celtypes.MapType), {})
    unordered = type("UnorderedList", (_Unordered, celtypes.ListType), {})
    return obj, unordered


def to_cel(v: Any, s: Json, resource_root: bool = False) -> Any:
    """values.go ``UnstructuredToVal``: a JSON value as CEL sees it under schema ``s``."""
    module = celpy()
    celtypes = module.celtypes
    if v is None:
        return None
    if s.get("x-kubernetes-int-or-string") and isinstance(v, str | int) \
            and not isinstance(v, bool):
        return celtypes.StringType(v) if isinstance(v, str) else celtypes.IntType(v)
    typ = s.get("type")
    if typ == "object" and isinstance(v, dict):
        return _object(v, s, resource_root)
    if typ == "array" and isinstance(v, list):
        items = s.get("items")
        elems = [to_cel(x, items if isinstance(items, dict) else {}) for x in v]
        if s.get("x-kubernetes-list-type") in ("set", "map"):
            return _value_types()[1](elems)
        return celtypes.ListType(elems)
    if typ == "string" and isinstance(v, str):
        return _string(v, str(s.get("format") or ""))
    if typ == "number" and isinstance(v, int | float) and not isinstance(v, bool):
        return celtypes.DoubleType(v)
    if typ == "integer" and isinstance(v, int) and not isinstance(v, bool):
        return celtypes.IntType(v)
    if typ == "boolean" and isinstance(v, bool):
        return celtypes.BoolType(v)
    return module.json_to_cel(v)


def _object(v: Json, s: Json, resource_root: bool) -> Any:
    celtypes = celpy().celtypes
    props = s.get("properties")
    if resource_root or s.get("x-kubernetes-embedded-resource"):
        props = {**(props or {}), **_TYPE_META}
    if props is None:
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            return celtypes.MapType({celtypes.StringType(k): to_cel(x, extra)
                                     for k, x in v.items()})
        props = {}
    out = _value_types()[0]()
    for k, x in v.items():
        name = escape(k) if k in props else None
        if name is not None and x is not None and isinstance(props[k], dict):
            out[celtypes.StringType(name)] = to_cel(x, props[k])
    out.raw, out.declared = v, frozenset(k for k in v if k in props)
    return out


def _string(v: str, fmt: str) -> Any:
    module = celpy()
    celtypes = module.celtypes
    try:
        if fmt == "duration":
            return celtypes.DurationType(v)
        if fmt == "date":
            day = datetime.date.fromisoformat(v)
            return celtypes.TimestampType(datetime.datetime(day.year, day.month, day.day,
                                                            tzinfo=datetime.UTC))
        if fmt == "date-time":
            return celtypes.TimestampType(v)
        if fmt == "byte":
            return celtypes.BytesType(base64.b64decode(v, validate=True))
    except Exception:  # noqa: BLE001 - each type's own parse error
        return module.CELEvalError(f"Invalid {fmt} formatted string {v}")
    return celtypes.StringType(v)


def _type(s: Json) -> str:
    return str(s.get("type") or "")


@dataclass
class Outcome:
    """The field errors of one write, and the ratcheted ones as Warning header texts."""

    causes: list[Cause] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Walk:
    def __init__(self) -> None:
        self.out = Outcome()

    def node(self, vs: Json, ns: Json, v: Any, old: Any, path: str, root: bool,
             unchanged: bool) -> None:
        """validation.go ``Validator.validate``: ``vs`` holds the rules, ``ns`` the types
        (the same node but under ``allOf``); ``unchanged`` whether the nearest correlated
        node equals its old value (ratcheting)."""
        if v is None:
            return
        rules = vs.get("x-kubernetes-validations") or []
        if rules:
            self.rules(rules, ns, v, old, path, root, unchanged)
        for sub in vs.get("allOf") or []:
            if isinstance(sub, dict):
                self.node(sub, ns, v, old, path, root, unchanged)
        if isinstance(v, list) and isinstance(vs.get("items"), dict) \
                and isinstance(ns.get("items"), dict):
            self._items(vs, ns, v, old if isinstance(old, list) else None, path, unchanged)
        if isinstance(v, dict):
            self._fields(vs, ns, v, old if isinstance(old, dict) else None, path, root,
                         unchanged)

    def _items(self, vs: Json, ns: Json, v: list[Any], old: list[Any] | None, path: str,
               unchanged: bool) -> None:
        keys = ns.get("x-kubernetes-list-map-keys") or []
        by_key: dict[str, Any] = {}
        if ns.get("x-kubernetes-list-type") == "map" and old is not None:
            by_key = {_map_key(x, keys): x for x in old if isinstance(x, dict)}
        for i, x in enumerate(v):
            prev = by_key.get(_map_key(x, keys)) if by_key and isinstance(x, dict) else None
            same = prev == x if prev is not None else unchanged
            self.node(vs["items"], ns["items"], x, prev, f"{path}[{i}]", False, same)

    def _fields(self, vs: Json, ns: Json, v: Json, old: Json | None, path: str, root: bool,
                unchanged: bool) -> None:
        extra_v, extra_n = vs.get("additionalProperties"), ns.get("additionalProperties")
        correlatable = ns.get("x-kubernetes-map-type") in (None, "granular", "atomic")
        if isinstance(extra_v, dict) and isinstance(extra_n, dict):
            for k, x in v.items():
                prev = old.get(k) if old is not None and correlatable else None
                same = (prev == x) if old is not None and k in old else unchanged
                self.node(extra_v, extra_n, x, prev, f"{path}[{k}]", False, same)
        props_v, props_n = vs.get("properties") or {}, ns.get("properties") or {}
        for k, x in v.items():
            if k in props_v and isinstance(props_n.get(k), dict):
                prev = old.get(k) if old is not None and correlatable else None
                if root and k in ("apiVersion", "kind"):
                    same = False
                elif old is not None and k in old:
                    same = prev == x
                else:
                    same = unchanged
                self.node(props_v[k], props_n[k], x, prev, f"{path}.{k}" if path else k,
                          False, same)

    def rules(self, rules: list[Any], ns: Json, v: Any, old: Any, path: str, root: bool,
              unchanged: bool) -> None:
        """validation.go ``validateExpressions`` for one node."""
        self_value = to_cel(v, ns, root)
        old_value = to_cel(old, ns, root) if old is not None else None
        typ = json.dumps(_type(ns))
        where = path or "<nil>"
        for rule in rules:
            if not isinstance(rule, dict) or not str(rule.get("rule") or "").strip():
                continue
            expr = compiled(str(rule["rule"]))
            if expr.program is None:
                self.out.causes.append((where, f"Invalid value: {typ}: rule compile error: "
                                        f"{expr.error}"))
                continue
            optional = bool(rule.get("optionalOldSelf"))
            uses_old = expr.uses("oldSelf")
            if uses_old and old is None and not optional:
                continue
            # messageExpression sees the plain activation, an optionalOldSelf rule oldSelf as
            # an optional value (validationActivationWithOldSelf).
            plain: dict[str, Any] = {"self": self_value}
            if old is not None:
                plain["oldSelf"] = old_value
            activation = plain
            if optional:
                activation = {"self": self_value, "oldSelf": optional_of(old_value)
                              if old is not None else optional_none()}
            shown = str(rule.get("message") or "").strip() or str(rule["rule"]).strip()
            try:
                result = expr.run(activation)
            except CelError as exc:
                self.out.causes.append((where, f"Invalid value: {typ}: "
                                        f"{_eval_failure(str(exc), shown)}"))
                continue
            if is_true(result):
                continue
            target = where
            normalized = field_path_of(str(rule.get("fieldPath") or ""), ns) \
                if rule.get("fieldPath") else None
            if normalized:
                target = f"{path}.{normalized}" if path else normalized
            text = _field_error(str(rule.get("reason") or "FieldValueInvalid"), typ,
                                _message(rule, plain))
            if not uses_old and unchanged:
                self.out.warnings.append(f"{target}: {text}")
            else:
                self.out.causes.append((target, text))


def _map_key(item: Any, keys: list[str]) -> str:
    return json.dumps([item.get(k) for k in keys] if isinstance(item, dict) else item,
                      sort_keys=True)


def _eval_failure(error: str, shown: str) -> str:
    if error.startswith("found no matching overload") or error.startswith("no such overload"):
        return (f"'{error}': call arguments did not match a supported operator, function or "
                f"macro signature for rule: {shown}")
    return f"{error} evaluating rule: {shown}"


def _field_error(reason: str, typ: str, detail: str) -> str:
    """validation.go ``fieldErrorForReason`` with the node's type as the value (v1.32), as
    ``field.Error.ErrorBody`` prints it."""
    if reason == "FieldValueForbidden":
        return f"Forbidden: {detail}"
    if reason == "FieldValueRequired":
        return f"Required value: {detail}"
    if reason == "FieldValueDuplicate":
        return f"Duplicate value: {typ}"
    return f"Invalid value: {typ}: {detail}"


def _message(rule: Json, activation: dict[str, Any]) -> str:
    """``messageExpression`` when it gives a non-empty one-line string of at most 5120 bytes
    (``evalMessageExpression``), else ``message``, else ``failed rule: <rule>``."""
    source = str(rule.get("messageExpression") or "")
    if source.strip():
        try:
            text = compiled(source).run(activation)
        except CelError:
            text = None
        if isinstance(text, str):
            text = text.strip()
            if text and "\n" not in text and len(text.encode()) <= 5120:
                return text
    message = str(rule.get("message") or "").strip()
    return message or f"failed rule: {str(rule.get('rule')).strip()}"


def validate(schema: Json, new: Json, old: Json | None) -> Outcome:
    """Every rule of a version's ``openAPIV3Schema`` on a custom resource being written
    (``old`` None on create), as strategy.go's ``Validate``/``ValidateUpdate`` run them."""
    walk = _Walk()
    walk.node(schema, schema, new, old, "", True, old is not None and old == new)
    return walk.out
