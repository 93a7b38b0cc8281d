"""Quality gates a model version must pass before a gated alias points at it: data (a pandera schema),
behaviour (invariance, directional and minimum-functionality cases) and drift (per-column tests between two
data versions). Declared in the promotion policy; run by `nblift check`; `nblift drift` runs drift alone.

Nothing heavy is imported here: numpy, scipy, pandas and pandera are imported by the modules that use them.
"""

from __future__ import annotations

from .cases import directional, invariance, minimum_functionality

__all__ = ["directional", "invariance", "minimum_functionality"]
