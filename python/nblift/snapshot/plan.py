"""What a restore would do in this kernel, changing nothing (`%lift restore ID --dry-run`).

The Snapshots view asks before a restore overwrites live variables: it runs the dry run in the kernel and
names what it answers, so which names count as overwritten is decided here, once.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import manifest as mf
from .namespace import split_module_key


@dataclasses.dataclass(frozen=True)
class RestorePlan:
    """The variables a restore of snapshot `id` would set, split by whether the kernel holds them now."""

    id: str
    #: Bound in the kernel now: a restore replaces their values.
    overwritten: list[str]
    #: Not bound now: a restore adds them.
    added: list[str]
    #: In the snapshot but not brought back by a plain restore (secrets, values it could not store).
    skipped: list[str]

    @property
    def failed(self) -> dict[str, str]:
        """Nothing: a dry run changes nothing, so it never fails (the verb table's check)."""
        return {}

    def lines(self) -> list[str]:
        lines = [f"restoring {self.id} would set {len(self.overwritten) + len(self.added)} variables"]
        if self.overwritten:
            lines.append("overwritten in this kernel: " + ", ".join(self.overwritten))
        if self.added:
            lines.append("added: " + ", ".join(self.added))
        if self.skipped:
            lines.append("not restored (secrets or not stored): " + ", ".join(self.skipped))
        return lines

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _bound(user_ns: Mapping[str, Any], name: str) -> bool:
    parts = split_module_key(name)
    if parts is None:
        return name in user_ns
    module = sys.modules.get(parts[0])
    return module is not None and hasattr(module, parts[1])


def plan_restore(
    state_dir: Path, user_ns: Mapping[str, Any], sid: str, *, only: Iterable[str] | None = None
) -> RestorePlan:
    """What restoring snapshot `sid` (all, or `only` some) into `user_ns` would overwrite and add."""
    # the refusals a restore would give, before anyone is asked to confirm
    manifest, wanted = mf.load_wanted(state_dir, sid, only)
    variables: dict[str, dict[str, Any]] = manifest["variables"]
    restorable = [n for n in wanted if variables[n]["status"] not in ("redacted", "unstorable")]
    return RestorePlan(
        id=manifest["id"],
        overwritten=sorted(n for n in restorable if _bound(user_ns, n)),
        added=sorted(n for n in restorable if not _bound(user_ns, n)),
        skipped=sorted(n for n in wanted if n not in restorable),
    )
