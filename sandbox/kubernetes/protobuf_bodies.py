"""Objects sent as ``application/vnd.kubernetes.protobuf``, what kubectl's typed clients send
(``kubectl create configmap``, ``create deployment``, ``create token``, ``auth can-i``...), read
as the JSON object a JSON client would have sent.

The wire (k8s.io/apimachinery ``pkg/runtime/serializer/protobuf/protobuf.go``): the 4 bytes
``k8s\\x00``, then a ``runtime.Unknown`` (``pkg/runtime/generated.proto``: ``typeMeta`` 1 with
``apiVersion`` 1 and ``kind`` 2, ``raw`` 2) whose ``raw`` is the object's message. The
messages' layout is ``protobuf.json``, generated from the Go types' struct tags
(``gen_protobuf.py``). The JSON is what Go's ``encoding/json`` writes of the decoded struct,
which is what the API server stores: a zero scalar set in a pointer field (``replicas: 0``) or
in a field without ``omitempty`` is kept, other zero scalars and empty lists and maps are
omitted, structs are kept even when empty (``resources: {}``), inline structs merged into
their parent, a zero ``metav1.Time`` omitted (JSON ``null``), ``[]byte`` base64, a Quantity
its string, an IntOrString its number or string.

Not decoded: kinds not in the table (a 415, as for custom resources, which have no protobuf),
``metav1.Duration`` (none of these kinds has one), ``MicroTime``'s microseconds.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import struct
from pathlib import Path
from typing import Any

from sandbox.kubernetes import protowire

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_TABLE = Path(__file__).with_name("protobuf.json")

Json = dict[str, Any]
Field = tuple[int, str, str, str]  # number, JSON name, kind, flags (see gen_protobuf.py)


class DecodeError(ValueError):
    """The body is not a protobuf object of a known kind."""


@functools.cache
def _table() -> tuple[dict[str, str], dict[str, list[Field]]]:
    data = json.loads(_TABLE.read_text())
    return data["kinds"], {k: [tuple(f) for f in v] for k, v in data["messages"].items()}


def decodable(api_version: str, kind: str) -> bool:
    """Whether objects of this kind are read from protobuf (the table's kinds)."""
    return f"{api_version}/{kind}" in _table()[0]


def decode(raw: bytes) -> Json:
    """The object a protobuf body holds, as JSON (``apiVersion`` and ``kind`` from the
    envelope).

    Raises:
        DecodeError: no ``k8s\\x00`` prefix, a malformed message, or a kind not in the table.
    """
    if not raw.startswith(MAGIC):
        raise DecodeError("the protobuf body lacks the k8s\\x00 prefix")
    try:
        envelope = {n: v for n, v in protowire.fields(raw[len(MAGIC):]) if isinstance(v, bytes)}
        type_meta = {n: v for n, v in protowire.fields(envelope.get(1, b""))
                     if isinstance(v, bytes)}
        api_version = type_meta.get(1, b"").decode()
        kind = type_meta.get(2, b"").decode()
        message = _table()[0].get(f"{api_version}/{kind}")
        if message is None:
            raise DecodeError(f"no kind {kind!r} of version {api_version!r} is read from "
                              "protobuf by the sandbox")
        return {"apiVersion": api_version, "kind": kind,
                **_message(envelope.get(2, b""), message)}
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise DecodeError(f"unable to decode the protobuf body: {exc}") from None


def _message(buf: bytes, name: str) -> Json:
    fields = _table()[1][name]
    by_number = {f[0]: f for f in fields}
    values: dict[int, Any] = {}
    for number, wire in protowire.fields(buf):
        f = by_number.get(number)
        if f is None:
            continue  # a field newer than the table: proto readers skip it
        _, _, kind, flags = f
        if "m" in flags:
            entry = dict(protowire.fields(_bytes(wire)))
            value = _map_value(kind, flags, entry.get(2))
            values.setdefault(number, {})[_bytes(entry.get(1, b"")).decode()] = value
        elif "r" in flags:
            values.setdefault(number, []).extend(_repeated(kind, wire))
        else:
            values[number] = _value(kind, wire)
    out: Json = {}
    for number, json_name, kind, flags in fields:  # in the Go struct's order
        if number not in values:
            continue
        value = values[number]
        if "i" in flags:
            out.update(value)
        elif not _omitted(value, kind, flags):
            out[json_name] = value
    return out


def _omitted(value: Any, kind: str, flags: str) -> bool:
    """encoding/json's omitempty, for what the wire carries (a pointer's value is kept)."""
    if value is None:
        return True
    if "p" in flags or "k" in flags or "/" in kind or kind in ("quantity", "intorstr"):
        return False
    return value in ("", 0, False, [], {})


def _bytes(wire: int | bytes | None) -> bytes:
    if wire is None:
        return b""
    if not isinstance(wire, bytes):
        raise ValueError("a length-delimited field was expected")
    return wire


def _int(wire: int | bytes) -> int:
    if not isinstance(wire, int):
        raise ValueError("a varint was expected")
    return wire - (1 << 64) if wire >= 1 << 63 else wire  # int32/int64 two's complement


def _repeated(kind: str, wire: int | bytes) -> list[Any]:
    if kind in ("int", "bool") and isinstance(wire, bytes):  # packed
        out, at = [], 0
        while at < len(wire):
            value, at = protowire.read_varint(wire, at)
            out.append(_value(kind, value))
        return out
    return [_value(kind, wire)]


def _map_value(kind: str, flags: str, wire: int | bytes | None) -> Any:
    if "w" in flags:  # a named list (authentication ExtraValue): its ``items`` (1)
        return [_value(kind, v) for n, v in protowire.fields(_bytes(wire)) if n == 1]
    if wire is None:
        return {} if "/" in kind else _value(kind, b"" if kind != "int" else 0)
    return _value(kind, wire)


def _time(buf: bytes) -> str | None:
    parts = dict(protowire.fields(buf))
    seconds = _int(parts.get(1, 0))
    if not seconds and not parts.get(2):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(kind: str, wire: int | bytes) -> Any:
    if "/" in kind:
        return _message(_bytes(wire), kind)
    if kind == "string":
        return _bytes(wire).decode()
    if kind == "int":
        return _int(wire)
    if kind == "bool":
        return bool(_int(wire))
    if kind == "bytes":
        return base64.b64encode(_bytes(wire)).decode()
    if kind == "float":
        return struct.unpack("<d", _bytes(wire))[0]
    if kind == "quantity":  # resource.Quantity: ``string`` 1
        return _bytes(dict(protowire.fields(_bytes(wire))).get(1, b"")).decode()
    if kind == "intorstr":  # intstr.IntOrString: ``type`` 1 (0 int, 1 string), 2, 3
        parts = dict(protowire.fields(_bytes(wire)))
        if _int(parts.get(1, 0)) == 1:
            return _bytes(parts.get(3, b"")).decode()
        return _int(parts.get(2, 0))
    if kind == "time":
        return _time(_bytes(wire))
    if kind == "rawjson":  # runtime.RawExtension / FieldsV1: ``raw`` 1
        raw = _bytes(dict(protowire.fields(_bytes(wire))).get(1, b""))
        return json.loads(raw) if raw else None
    raise ValueError(f"no decoding for {kind!r}")
