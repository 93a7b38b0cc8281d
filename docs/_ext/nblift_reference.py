"""Reference pages generated from nblift's own code, so the docs cannot drift from it.

Directives:

``nblift-commands`` (argument ``cli`` or ``magic``)
    The global options and, for every verb in ``nblift.commands.VERBS``, a section with its help text and
    the argparse help of its subcommand, built by ``nblift.commands.build_parser`` exactly as the CLI
    (``nblift``) and the magic (``%lift``) build it. A new verb appears here without editing the docs.

``nblift-openapi``
    Every path and operation of ``nblift/server/openapi.json`` (the document the server serves), then its
    schemas.

``nblift-settings``
    Every field of ``nblift.settings.Settings`` with its TOML key, environment variable, type, default and
    the ``#:`` comment written above it in the source.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
from collections.abc import Iterable, Iterator, Sequence
from importlib.resources import files
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

HELP_WIDTH = 88
PROGS = {"cli": "nblift", "magic": "%lift"}
TOML_TYPES = {str: "string", int: "integer", float: "float", bool: "boolean"}


# -- node helpers -------------------------------------------------------------------------------------------
def _section(directive: SphinxDirective, title: str, key: str) -> nodes.section:
    section = nodes.section()
    section["ids"].append(nodes.make_id(key))
    section += nodes.title(text=title)
    directive.state.document.note_implicit_target(section, section)
    return section


def _literal(text: str, language: str = "text") -> nodes.literal_block:
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block


def _para(*parts: nodes.Node | str) -> nodes.paragraph:
    para = nodes.paragraph()
    for part in parts:
        para += nodes.Text(part) if isinstance(part, str) else part
    return para


def _code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _inline(text: str) -> nodes.paragraph:
    """A paragraph from text where `backquoted` parts are code, as in the source's comments."""
    return _para(*(_code(part) if i % 2 else part for i, part in enumerate(text.split("`")) if part))


def _table(
    header: Sequence[str], rows: Iterable[Sequence[nodes.Node | str]], widths: Sequence[int]
) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row_of(cells: Sequence[nodes.Node | str]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell if isinstance(cell, nodes.paragraph) else _para(cell)
            row += entry
        return row

    head = nodes.thead()
    head += row_of(header)
    body = nodes.tbody()
    for cells in rows:
        body += row_of(cells)
    group += head
    group += body
    return table


def _note_source(directive: SphinxDirective, module: Any) -> None:
    """Rebuild the page when the module it is generated from changes."""
    path = inspect.getsourcefile(module)
    if path:
        directive.env.note_dependency(path)


# -- commands -----------------------------------------------------------------------------------------------
def _fixed_width(parser: argparse.ArgumentParser) -> None:
    """Format help at a fixed width, whatever terminal the docs are built in."""
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=HELP_WIDTH)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class CommandsDirective(SphinxDirective):
    """``nblift-commands cli|magic``: every verb with its argparse help."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        from nblift import commands

        kind = self.arguments[0]
        if kind not in PROGS:
            raise self.error(f"nblift-commands takes one of {', '.join(PROGS)}, not {kind!r}")
        _note_source(self, commands)
        prog = PROGS[kind]
        parser = commands.build_parser(prog)
        _fixed_width(parser)
        subparsers = _subparsers(parser)
        # The verbs this front door offers, in the table's order (some act on a kernel: magic only).
        verbs = {name: verb for name, verb in commands.VERBS.items() if name in subparsers}
        kernel_only = [name for name, verb in commands.VERBS.items() if getattr(verb, "kernel_only", False)]

        result: list[nodes.Node] = []
        overview = _section(self, "Commands", f"{kind}-commands")
        overview += _table(
            ["command", "what it does"],
            (
                [
                    _para(_code(f"{prog} {name}")),
                    verb.help + (" (notebook only)" if name in kernel_only else ""),
                ]
                for name, verb in verbs.items()
            ),
            [25, 75],
        )
        left_out = [name for name in kernel_only if name not in verbs]
        if left_out:
            overview += _para(
                "Commands that act on a running kernel are offered only by the ",
                _code(PROGS["magic"]),
                " magic: ",
                *_joined([[_code(name)] for name in left_out], ", "),
                ".",
            )
        result.append(overview)

        general = _section(self, "Global options", f"{kind}-global-options")
        general += _para(
            "The program's own options come before the command, for example ",
            _code(f"{prog} -C ../project status"),
            ".",
        )
        general += _literal(parser.format_help())
        result.append(general)

        for name, verb in verbs.items():
            section = _section(self, f"{prog} {name}", f"{kind}-{name}")
            section += _para(verb.help)
            sub = subparsers[name]
            _fixed_width(sub)
            section += _literal(sub.format_help())
            result.append(section)
        return result


# -- REST API -----------------------------------------------------------------------------------------------
def _schema_parts(schema: dict[str, Any] | None) -> list[nodes.Node | str]:
    """A schema in a few words: a link to the component it refers to, or its type."""
    if not schema:
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        link = nodes.reference("", "", internal=True, refid=nodes.make_id(f"rest-schema-{name}"))
        link += nodes.Text(name)
        return [link]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return _joined([_schema_parts(s) for s in schema[key]], " | ")
    kind = schema.get("type", "")
    if isinstance(kind, list):
        return [" | ".join(kind)]
    if kind == "array":
        return ["array of ", *_schema_parts(schema.get("items"))]
    return [str(kind)]


def _joined(groups: list[list[nodes.Node | str]], separator: str) -> list[nodes.Node | str]:
    parts: list[nodes.Node | str] = []
    for i, group in enumerate(groups):
        parts.extend(([separator] if i else []) + group)
    return parts


def _schema_para(schema: dict[str, Any] | None) -> nodes.paragraph:
    return _para(*_schema_parts(schema))


def _response_schema(response: dict[str, Any]) -> nodes.paragraph:
    content = response.get("content", {})
    groups = [[*_schema_parts(media.get("schema")), f" ({mime})"] for mime, media in content.items()]
    return _para(*_joined(groups, ", "))


class OpenAPIDirective(SphinxDirective):
    """``nblift-openapi``: the REST API from the OpenAPI document the server serves."""

    has_content = False
    methods = ("get", "put", "post", "patch", "delete")

    def run(self) -> list[nodes.Node]:
        import nblift.server

        resource = files("nblift.server").joinpath("openapi.json")
        self.env.note_dependency(str(resource))
        _note_source(self, nblift.server)
        spec = json.loads(resource.read_text())
        info = spec.get("info", {})

        result: list[nodes.Node] = []
        if info.get("description"):
            result.append(_para(info["description"]))
        result.append(
            _para("OpenAPI ", spec.get("openapi", "?"), ", API version ", str(info.get("version", "?")), ".")
        )

        operations = _section(self, "Operations", "rest-operations")
        for path, item in spec.get("paths", {}).items():
            for method in self.methods:
                if method in item:
                    operations += self._operation(method, path, item[method])
        result.append(operations)

        schemas = spec.get("components", {}).get("schemas", {})
        if schemas:
            section = _section(self, "Schemas", "rest-schemas")
            for name, schema in schemas.items():
                section += self._schema(name, schema)
            result.append(section)
        return result

    def _operation(self, method: str, path: str, op: dict[str, Any]) -> nodes.section:
        section = _section(self, f"{method.upper()} {path}", f"rest-{method}-{path}")
        if op.get("summary"):
            section += _para(op["summary"])
        if op.get("operationId"):
            section += _para("Operation id: ", _code(op["operationId"]))
        params = op.get("parameters", [])
        if params:
            section += _table(
                ["parameter", "in", "required", "type", "description"],
                (
                    [
                        _para(_code(p["name"])),
                        p.get("in", ""),
                        "yes" if p.get("required") else "no",
                        _schema_para(p.get("schema")),
                        p.get("description", ""),
                    ]
                    for p in params
                ),
                [15, 8, 8, 10, 59],
            )
        else:
            section += _para("No parameters.")
        section += _table(
            ["status", "description", "body"],
            (
                [_para(_code(code)), r.get("description", ""), _response_schema(r)]
                for code, r in op["responses"].items()
            ),
            [10, 55, 35],
        )
        return section

    def _schema(self, name: str, schema: dict[str, Any]) -> nodes.section:
        section = _section(self, name, f"rest-schema-{name}")
        properties = schema.get("properties", {})
        if not properties:
            section += _para("Type: ", *_schema_parts(schema))
            return section
        section += _table(["field", "type", "required"], _fields(schema), [30, 50, 20])
        return section


def _fields(schema: dict[str, Any], prefix: str = "") -> Iterator[list[nodes.Node | str]]:
    """One row per property; the properties of an inline object follow it as `parent.child`."""
    required = set(schema.get("required", []))
    for field, sub in schema.get("properties", {}).items():
        yield [_para(_code(prefix + field)), _schema_para(sub), "yes" if field in required else "no"]
        if sub.get("type") == "object" and "properties" in sub:
            yield from _fields(sub, f"{prefix}{field}.")


# -- settings -----------------------------------------------------------------------------------------------
class SettingsDirective(SphinxDirective):
    """``nblift-settings``: every field of nblift.settings.Settings."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from nblift import settings

        _note_source(self, settings)
        docs = ModuleAnalyzer.for_module(settings.__name__).find_attr_docs()
        rows = []
        for field in dataclasses.fields(settings.Settings):
            if field.name == "sources":  # bookkeeping, not a setting
                continue
            description = " ".join(docs.get(("Settings", field.name), [])).strip()
            if not description:
                raise self.error(f"Settings.{field.name} has no `#:` comment to document it")
            table = field.name in settings._TABLES  # tables of tables: not settable from the environment
            default = field.default_factory() if table else field.default  # type: ignore[misc]
            rows.append(
                [
                    _para(_code(field.name)),
                    _para(_code("(a table)" if table else settings.ENV_PREFIX + field.name.upper())),
                    "table" if table else TOML_TYPES.get(type(default), type(default).__name__),
                    _para(_code(json.dumps(default))),
                    _inline(description),
                ]
            )
        return [
            _table(
                ["key", "environment variable", "type", "default", "description"], rows, [16, 24, 8, 12, 40]
            )
        ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("nblift-commands", CommandsDirective)
    app.add_directive("nblift-openapi", OpenAPIDirective)
    app.add_directive("nblift-settings", SettingsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
