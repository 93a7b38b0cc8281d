"""Which registered model names, versions and aliases nblift accepts, checked before anything is stored."""

from __future__ import annotations

import re

from ..errors import InvalidInput

#: Letters, digits, `_`, `-`, `.` and spaces inside; no path separators, no markup, nothing a shell reads.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}")
#: MLflow's own alias rule (letters, digits, `_`, `-`; not `latest`, not `v<N>`).
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,62}")


def check_name(name: str) -> str:
    """`name` when it is a usable registered model name, else InvalidInput saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name != name.strip() or ".." in name:
        raise InvalidInput(
            f"{name!r} cannot be a model name",
            hint="use letters, digits, '_', '-', '.' and spaces (up to 100 characters), "
            "no '/', '\\\\', '..' or markup",
        )
    return name


def check_alias(alias: str) -> str:
    if (
        not isinstance(alias, str)
        or not _ALIAS.fullmatch(alias)
        or alias == "latest"
        or re.fullmatch(r"v\d+", alias)
    ):
        raise InvalidInput(
            f"{alias!r} cannot be an alias",
            hint="use letters, digits, '_' and '-', starting with a letter (not 'latest' or 'v<N>')",
        )
    return alias


def check_version(version: str | int) -> str:
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{version!r} is not a model version", hint="versions are 1, 2, 3, ...")
    return str(int(text))


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`models:/NAME/VERSION` or `models:/NAME@ALIAS` -> (name, version, alias)."""
    if not uri.startswith("models:/"):
        raise InvalidInput(
            f"{uri!r} is not a registry URI", hint="write models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    rest = uri[len("models:/") :]
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        return check_name(name), None, check_alias(alias)
    name, _, version = rest.rpartition("/")
    if not name:
        raise InvalidInput(f"{uri!r} names no version or alias", hint="write models:/NAME@champion")
    return check_name(name), check_version(version), None
