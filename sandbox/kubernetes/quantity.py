"""Kubernetes ``resource.Quantity``: parsing and the canonical form the API server stores and
returns (k8s.io/apimachinery/pkg/api/resource/quantity.go, ``CanonicalizeBytes``).

``0.5`` -> ``500m``, ``1000m`` -> ``1``, ``1Gi`` stays, ``1024Mi`` -> ``1Gi``, ``1.5Gi`` ->
``1536Mi``, ``1000`` -> ``1k``, ``1e3`` -> ``1e3``. Precision below ``1n`` rounds up.
"""

from __future__ import annotations

import re
from fractions import Fraction

_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|"
                 r"[KMGTPE]i)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
MESSAGE = ("quantities must match the regular expression "
           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


class QuantityError(ValueError):
    pass


def parse(text: str) -> tuple[Fraction, str]:
    """The value and its format (``BinarySI``, ``DecimalSI`` or ``DecimalExponent``)."""
    m = _RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise QuantityError(MESSAGE)
    number, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix in _BINARY:
        return number * (2 ** _BINARY[suffix]), "BinarySI"
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    return number * Fraction(10) ** int(suffix[1:]), "DecimalExponent"


def canonical(value: str | int | float) -> str:
    """The canonical text of a quantity (raises QuantityError when it does not parse)."""
    if isinstance(value, bool):
        raise QuantityError(MESSAGE)
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    amount, fmt = parse(value)
    # Round up to nanounits, the smallest scale a Quantity keeps.
    nanos = amount * 10**9
    if nanos.denominator != 1:
        nanos = Fraction(-((-nanos.numerator) // nanos.denominator))
        amount = nanos / 10**9
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if fmt == "BinarySI" and amount.denominator == 1 and amount >= 1024:
        n, exp = amount.numerator, 0
        while exp < 60 and n % 1024 == 0:
            n //= 1024
            exp += 10
        return f"{sign}{n}{_BINARY_SUFFIX.get(exp, '')}"
    if amount == 0:
        return "0"
    n = int(amount * 10**9)
    exp = -9
    while n % 1000 == 0 and exp < 18:
        n //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return f"{sign}{n}" + (f"e{exp}" if exp else "")
    return f"{sign}{n}{_DECIMAL_SUFFIX[exp]}"
