"""The sandbox's CEL: cel-python (standard CEL), compiled once per expression, shared by the
ValidatingAdmissionPolicy plugin (``vap.py``) and CRD validation rules (``celrules.py``).

What it adds to cel-python, after cel-go as Kubernetes configures it (k8s.io/apiserver
``pkg/cel/environment/base.go``): heterogeneous ``==``/``!=`` with null, and the optional
value methods ``hasValue()``, ``value()`` and ``orValue(x)`` (cel-go's optional library) on
the values ``optional_of``/``optional_none`` make, which is how an ``optionalOldSelf`` rule
sees ``oldSelf``.

Not supported: the Kubernetes CEL libraries (``quantity``, ``url``, ``ip``/``cidr``, regex
``find``/``findAll``, ``isSorted``/``sum``/``min``/``max``/``indexOf``, ``format``,
``semver``), cel-go's ``strings`` extension (``lowerAscii``, ``split``, ``join``, ``trim``...),
the optional syntax (``a.?b``, ``optional.of``) and type checking. An expression that calls
one of those functions fails when it is evaluated ("undeclared reference"), so whatever it
guards is refused rather than allowed; one that uses the optional syntax does not parse.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

_UNSUPPORTED = ("; the sandbox evaluates standard CEL (cel-python) without Kubernetes' CEL "
                "libraries and cel-go's extensions")


@functools.cache
def celpy() -> Any:
    """cel-python, imported on first use (it takes a quarter second to import)."""
    import celpy as module

    return module


class Optional:
    """A cel-go optional value (``optional.of(v)`` / ``optional.none()``)."""

    __slots__ = ("present", "wrapped")

    def __init__(self, present: bool, wrapped: Any = None):
        self.present, self.wrapped = present, wrapped

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Optional):
            return NotImplemented
        return self.present == other.present and (not self.present
                                                  or bool(self.wrapped == other.wrapped))

    __hash__ = None  # type: ignore[assignment]


def optional_of(value: Any) -> Optional:
    return Optional(True, value)


def optional_none() -> Optional:
    return Optional(False)


@functools.cache
def _functions() -> dict[str, Any]:
    """``==`` and ``!=`` with null on either side, as cel-go's heterogeneous equality answers
    them (``object != null`` is how a policy tells DELETE apart; cel-python has no overload
    for a map or an int against null), and the optional value methods."""
    from celpy import celtypes, evaluation

    def eq(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return celtypes.BoolType(a is None and b is None)
        return evaluation.bool_eq(a, b)

    def ne(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return celtypes.BoolType(not (a is None and b is None))
        return evaluation.bool_ne(a, b)

    def _optional(v: Any, method: str) -> Optional:
        if not isinstance(v, Optional):
            raise TypeError(f"no such overload: {method} on {type(v).__name__}")
        return v

    def has_value(v: Any) -> Any:
        return celtypes.BoolType(_optional(v, "hasValue").present)

    def value(v: Any) -> Any:
        opt = _optional(v, "value")
        if not opt.present:
            raise ValueError("optional.none() dereference")
        return opt.wrapped

    def or_value(v: Any, default: Any) -> Any:
        opt = _optional(v, "orValue")
        return opt.wrapped if opt.present else default

    return {"_==_": eq, "_!=_": ne, "hasValue": has_value, "value": value, "orValue": or_value}


class CelError(Exception):
    """An expression that does not compile or does not evaluate."""


@dataclass(frozen=True)
class Expression:
    """One CEL expression, compiled once (``program`` None when it does not compile)."""

    source: str
    program: Any
    error: str
    idents: frozenset[str] = frozenset()
    # The parse tree (lark), for checks of what an expression names.
    tree: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def compile(cls, source: str) -> Expression:
        module = celpy()
        env = module.Environment()
        try:
            tree = env.compile(source)
            program = env.program(tree, functions=_functions())
        except Exception as exc:  # noqa: BLE001 - cel-python raises parse and type errors alike
            return cls(source, None, f"compilation failed: {_syntax_error(exc, source)}")
        idents = frozenset(str(n.children[0]) for n in tree.find_data("ident"))
        return cls(source, program, "", idents, tree)

    def uses(self, name: str) -> bool:
        """Whether the expression names the variable ``name`` (cel-go's reference map)."""
        return name in self.idents

    def run(self, activation: dict[str, Any]) -> Any:
        """The value, or raise CelError with cel-go's wording of the failure where it has one
        (``no such key: x``)."""
        if self.program is None:
            raise CelError(self.error)
        try:
            return self.program.evaluate(activation)
        except Exception as exc:  # noqa: BLE001 - CELEvalError and the Python errors under it
            raise CelError(eval_message(exc)) from exc

    def evaluate(self, activation: dict[str, Any]) -> Any:
        """Like ``run``, the error worded as the admission plugins word it."""
        try:
            return self.run(activation)
        except CelError as exc:
            raise CelError(f"expression '{self.source}' resulted in error: {exc}") from exc


def _syntax_error(exc: Exception, source: str) -> str:
    """A parse failure in cel-go's form, ``ERROR: <input>:L:C: Syntax error: ...`` with the
    line and a caret under the column (the words after ``Syntax error`` are lark's, not
    ANTLR's)."""
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if not isinstance(line, int) or not isinstance(column, int):
        return " ".join(str(exc).split())
    token = getattr(exc.__context__, "token", None)
    char = getattr(exc.__context__, "char", None)
    if token is not None and getattr(token, "type", "") == "$END":
        what = "unexpected end of input"
    elif token is not None:
        what = f"unexpected input '{token}'"
    elif char:
        what = f"token recognition error at: '{char}'"
    else:
        what = "unexpected input"
    text = (source.splitlines() or [""])[max(line - 1, 0)]
    return (f"ERROR: <input>:{line}:{column}: Syntax error: {what}\n | {text}\n"
            f" | {'.' * max(column - 1, 0)}^")


def eval_message(exc: Exception) -> str:
    """cel-python's message without the activation it may append (every variable's value),
    in cel-go's words where they differ."""
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else str(exc)
    text = text.split(" (in activation", 1)[0]
    if text.startswith("no such member in mapping: "):
        text = "no such key: " + text.removeprefix("no such member in mapping: ").strip("'")
    elif text.startswith("undeclared reference to "):
        text += _UNSUPPORTED
    return text if len(text) <= 300 else text[:297] + "..."


def is_true(value: Any) -> bool:
    """cel-go's ``EvalResult == celtypes.True``: only the boolean true passes."""
    return isinstance(value, celpy().celtypes.BoolType) and bool(value)


def is_false(value: Any) -> bool:
    return isinstance(value, celpy().celtypes.BoolType) and not bool(value)
