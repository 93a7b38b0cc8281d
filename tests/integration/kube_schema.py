"""Checking a manifest nblift writes against the Kubernetes schema of the release a target names.

`kubernetes-validate` ships the official JSON schemas of each Kubernetes release (generated from the API
server's OpenAPI document); `validate` checks a manifest in strict mode (an unknown field anywhere is an
error, as `kubectl apply --validate=strict` makes it) against the target's `kubernetes_version`. The
schemas leave some rules to the API server's validation code; the few a Job of ours meets are checked here
too (names and labels, the podFailurePolicy's actions and its restartPolicy, quantities).
"""

from __future__ import annotations

import re
from typing import Any

_DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?")


def validate(manifest: dict[str, Any], version: str) -> str:
    """Validate any manifest against release `version`'s strict schema; the schema's release (raises
    kubernetes_validate's ValidationError naming the field and what is wrong)."""
    import kubernetes_validate

    return str(kubernetes_validate.validate(manifest, version, strict=True))


def validate_job(manifest: dict[str, Any], version: str = "1.30") -> dict[str, Any]:
    """The Job, once it validates against `version`'s schema and the API server's rules a schema leaves
    out (AssertionError naming what is wrong)."""
    assert manifest.get("apiVersion") == "batch/v1" and manifest.get("kind") == "Job"
    assert validate(manifest, version) == ".".join(version.split(".")[:2])
    meta, spec = manifest["metadata"], manifest["spec"]
    name = meta["name"]
    assert len(name) <= 63 and _DNS_1123.fullmatch(name), f"Job name {name!r} is not a DNS-1123 label"
    for labels in (meta.get("labels") or {}, (spec["template"].get("metadata") or {}).get("labels") or {}):
        for value in labels.values():
            assert len(value) <= 63 and _LABEL_VALUE.fullmatch(value), f"label value {value!r}"
    pod = spec["template"]["spec"]
    containers = [c["name"] for c in pod["containers"]]
    policy = spec.get("podFailurePolicy")
    if policy is not None:
        assert pod.get("restartPolicy") == "Never", "a podFailurePolicy needs restartPolicy Never"
        for rule in policy["rules"]:
            assert rule["action"] in ("FailJob", "Ignore", "Count", "FailIndex"), rule["action"]
            codes = rule.get("onExitCodes")
            if codes is not None:
                assert codes["operator"] in ("In", "NotIn") and 0 not in codes["values"]
                assert codes.get("containerName") in containers
    for container in pod["containers"]:
        resources = container.get("resources") or {}
        for quantities in (resources.get("limits") or {}, resources.get("requests") or {}):
            for key, value in quantities.items():
                assert _QUANTITY.fullmatch(value), f"{key}: {value!r} is not a quantity"
        mounts = {m["name"] for m in container.get("volumeMounts") or []}
        assert mounts <= {v["name"] for v in pod.get("volumes") or []}, f"mounts {mounts} name no volume"
    assert spec.get("activeDeadlineSeconds", 1) > 0 and spec.get("backoffLimit", 0) >= 0
    return manifest
