"""What a notebook uses of its libraries' APIs, read from its code cells with `ast` (nothing runs).

Three kinds of use, each turned into a check the probe (`nblift.target.api_probe`) can answer:
- attribute chains from an imported module (`np.infty`, `pd.datetime`, `plt.cm.get_cmap`) and names taken
  with `from module import name`;
- method calls on variables whose type is known: inferred from the notebook itself (`df = pd.read_csv(...)`,
  `s = pd.Series(...)`, `a = np.zeros(...)`, a copy of a known one) or given by the caller as name ->
  "module.QualName" (`types_of_values`: the live kernel's namespace; `types_in_manifest`: a snapshot's);
- strings a library lists its choices for: `plt.style.use('seaborn')` against `matplotlib.style.available`,
  and pandas frequency strings (`freq='H'`, `df.resample('T')`) against pandas' own parser.

`nblift.environment.api_check` asks the probe and judges the answers.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .notebook import _magic_code, code_trees

#: Functions whose result has a known type.
RETURN_TYPES = {
    **{
        f"numpy.{name}": "numpy.ndarray"
        for name in ("array", "asarray", "zeros", "ones", "empty", "full", "arange", "linspace", "eye")
    },
    "pandas.DataFrame.from_dict": "pandas.DataFrame",
    "pandas.DataFrame.from_records": "pandas.DataFrame",
}
#: Methods that return an object of their receiver's type.
SAME_TYPE_METHODS = frozenset(
    {"copy", "head", "tail", "dropna", "fillna", "sort_values", "sort_index", "reset_index", "set_index"}
    | {"drop", "rename", "query", "astype", "assign", "merge", "append", "replace", "round", "abs", "clip"}
    | {"sample", "where", "mask", "ffill", "bfill", "reshape", "transpose", "flatten", "squeeze"}
)
STYLE_CALLS = frozenset(
    f"{module}.style.{verb}" for module in ("matplotlib", "matplotlib.pyplot") for verb in ("use", "context")
)
STYLE_CHECK = {
    "probe": "choice",
    "list": "matplotlib.style.available",
    "aliases": ["matplotlib.style.core._DEPRECATED_SEABORN_STYLES"],
}
FREQ_CALLS = frozenset(
    f"pandas.{name}" for name in ("date_range", "bdate_range", "period_range", "timedelta_range", "Grouper")
)
FREQ_METHODS = frozenset({"resample", "asfreq"})
FREQ_CHECK = {"probe": "parse", "function": "pandas.tseries.frequencies.to_offset"}


@dataclasses.dataclass(frozen=True)
class ApiUse:
    """One use of a library API in the notebook: where, as written, and the probe's check for it."""

    cell: int  # index of the cell (0-based)
    text: str  # the code as written: `df.append(...)`
    check: Mapping[str, Any]  # what the probe is asked (see nblift.target.api_probe)
    label: str = ""  # for a string: what it names ("a style")

    @property
    def key(self) -> str:
        return json.dumps(self.check, sort_keys=True)

    @property
    def library(self) -> str:
        """The top-level module the use belongs to."""
        check = self.check
        dotted = check.get("module") or check.get("type") or check.get("list") or check.get("function")
        return str(dotted).split(".", 1)[0]


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strings(node: ast.AST | None) -> list[str]:
    """The string constants `node` is, or holds as a list or tuple."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _argument(node: ast.Call, *keywords: str, position: int | None = 0) -> ast.AST | None:
    for keyword in node.keywords:
        if keyword.arg in keywords:
            return keyword.value
    return node.args[position] if position is not None and len(node.args) > position else None


def _bound_names(target: ast.AST) -> Iterable[str]:
    return (n.id for n in ast.walk(target) if isinstance(n, ast.Name))


class _UseCollector(ast.NodeVisitor):
    """Walks the cells in order, keeping the import aliases and the variables' known types as it goes."""

    def __init__(self, known_types: Mapping[str, str]) -> None:
        self.known = dict(known_types)
        self.types: dict[str, str] = dict(known_types)
        self.aliases: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (module, attributes)
        self.uses: list[ApiUse] = []
        self.cell = 0

    # -- names ---------------------------------------------------------------------------------------------

    def _chain(self, node: ast.AST) -> tuple[str, tuple[str, ...]] | None:
        """(module, attributes) for `alias.a.b` where `alias` names an imported module or object."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            inner = self._chain(node.value)
            return (inner[0], (*inner[1], node.attr)) if inner else None
        return None

    def _dotted(self, node: ast.AST) -> str | None:
        chain = self._chain(node)
        return ".".join((chain[0], *chain[1])) if chain else None

    def _bind(self, name: str, type_name: str | None) -> None:
        """`name` now holds a value of `type_name`; unknown falls back to what the caller knew of it."""
        self.aliases.pop(name, None)
        found = type_name or self.known.get(name)
        if found:
            self.types[name] = found
        else:
            self.types.pop(name, None)

    def _type_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.types.get(node.id)
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in SAME_TYPE_METHODS:
            receiver = self._type_of(func.value)
            if receiver:
                return receiver
        dotted = self._dotted(func)
        if dotted is None:
            return None
        last = dotted.rsplit(".", 1)[-1]
        if dotted in RETURN_TYPES:
            return RETURN_TYPES[dotted]
        if dotted.startswith("pandas.read_"):
            return "pandas.DataFrame"
        return dotted if last[:1].isupper() and dotted.count(".") >= 1 else None

    def _add(self, text: str, check: Mapping[str, Any], label: str = "") -> None:
        self.uses.append(ApiUse(self.cell, short(text), dict(check), label))

    # -- bindings ------------------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".", 1)[0]
            self._bind(bound, None)
            self.aliases[bound] = (alias.name if alias.asname else bound, ())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            bound = alias.asname or alias.name
            self._bind(bound, None)
            self.aliases[bound] = (node.module, (alias.name,))
            check = {"probe": "attr", "module": node.module, "attrs": [alias.name]}
            self._add(f"from {node.module} import {alias.name}", check)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        inferred = self._type_of(node.value)
        for target in node.targets:
            self._assign(target, inferred)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._assign(node.target, self._type_of(node.value))

    def _assign(self, target: ast.AST, inferred: str | None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, inferred)
            return
        self.visit(target)
        if isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for name in _bound_names(target):
                self._bind(name, None)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        for name in _bound_names(node.target):
            self._bind(name, None)
        for statement in (*node.body, *node.orelse):
            self.visit(statement)

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        for name in _bound_names(node.optional_vars) if node.optional_vars else ():
            self._bind(name, None)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, self._type_of(node.value))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        """A function's parameters shadow the notebook's variables inside its body only."""
        saved = (dict(self.types), dict(self.aliases))
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self.types.pop(arg.arg, None)
                self.aliases.pop(arg.arg, None)
        for statement in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(statement)
        self.types, self.aliases = saved

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node)
        self._bind(node.name, None)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node)
        self._bind(node.name, None)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped(node)

    # -- uses ----------------------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = self._chain(node)
        if chain is None:
            self.generic_visit(node)
            return
        if isinstance(node.ctx, ast.Load):  # the longest chain only: its prefixes resolve on the way
            self._add(ast.unparse(node), {"probe": "attr", "module": chain[0], "attrs": list(chain[1])})

    def visit_Call(self, node: ast.Call) -> None:
        inner = _magic_code(node)
        if inner is not None:
            self.visit(inner)
            return
        func = node.func
        receiver = self._type_of(func.value) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and receiver and not self._chain(func.value):
            self._add(f"{ast.unparse(func)}(...)", {"probe": "method", "type": receiver, "name": func.attr})
            self._method_strings(node, func.attr, receiver)
        else:
            self._call_strings(node, self._dotted(func))
        self.generic_visit(node)

    def _call_strings(self, node: ast.Call, dotted: str | None) -> None:
        if dotted in STYLE_CALLS:
            for value in _strings(_argument(node, "style")):
                if value != "default" and not any(c in value for c in "./\\"):
                    self._add(ast.unparse(node), {**STYLE_CHECK, "value": value}, "a style")
        elif dotted in FREQ_CALLS:
            for value in _strings(_argument(node, "freq", position=None)):
                self._add(ast.unparse(node), {**FREQ_CHECK, "value": value}, "a frequency")

    def _method_strings(self, node: ast.Call, method: str, receiver: str) -> None:
        if method in FREQ_METHODS and receiver.startswith("pandas."):
            for value in _strings(_argument(node, "rule", "freq")):
                self._add(ast.unparse(node), {**FREQ_CHECK, "value": value}, "a frequency")


def notebook_api_uses(
    cells: Sequence[Mapping[str, Any]], known_types: Mapping[str, str] | None = None
) -> list[ApiUse]:
    """Every library API use in the notebook's code cells, in order (IPython syntax and %time bodies too)."""
    collector = _UseCollector(known_types or {})
    for index, tree in code_trees(cells):
        collector.cell = index
        collector.visit(tree)
    return collector.uses


def types_in_manifest(manifest: Mapping[str, Any]) -> dict[str, str]:
    """name -> "module.QualName" of the variables a snapshot manifest lists."""
    variables = manifest.get("variables") or {}
    return {
        name: v["type"]
        for name, v in variables.items()
        if isinstance(v, dict) and isinstance(v.get("type"), str) and _DOTTED.fullmatch(v["type"])
    }


def types_of_values(values: Mapping[str, Any]) -> dict[str, str]:
    """name -> "module.QualName" of live values (the kernel's variables) whose type a library defines."""
    found = {}
    for name, value in values.items():
        cls = type(value)
        module = getattr(cls, "__module__", None)
        dotted = f"{module}.{getattr(cls, '__qualname__', '')}"
        if module not in ("builtins", "__main__") and _DOTTED.fullmatch(dotted):  # not a local class
            found[name] = dotted
    return found
