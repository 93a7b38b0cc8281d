"""Checking a manifest nblift writes against the Kubernetes API's own definition of the object.

The official `kubernetes` client's models are generated from the Kubernetes OpenAPI document (the release
its package names, `OPENAPI_RELEASE`) and refuse unknown fields (pydantic, `extra="forbid"`), wrong types and
missing required fields at every level. The OpenAPI types leave some rules to the API server's validation
code; the few a Job of ours meets are checked here too (names and labels, the podFailurePolicy's actions and
its restartPolicy, quantities).
"""

from __future__ import annotations

import re
from typing import Any


def openapi_release() -> str:
    """The Kubernetes release whose OpenAPI document the installed client was generated from ("1.37")."""
    from pathlib import Path

    import kubernetes.client

    head = Path(kubernetes.client.__file__).read_text()[:4000]
    found = re.search(r"release-(\d+\.\d+)", head)
    assert found, "the kubernetes client does not say which OpenAPI document it was made from"
    return found.group(1)


_DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?")


def validate_job(manifest: dict[str, Any]) -> Any:
    """The V1Job the manifest is (raises pydantic's ValidationError, or AssertionError, naming what is
    wrong)."""
    from kubernetes.client import V1Job

    assert manifest.get("apiVersion") == "batch/v1" and manifest.get("kind") == "Job"
    job = V1Job.model_validate(manifest)
    name = job.metadata.name
    assert len(name) <= 63 and _DNS_1123.fullmatch(name), f"Job name {name!r} is not a DNS-1123 label"
    for labels in (job.metadata.labels or {}, job.spec.template.metadata.labels or {}):
        for value in labels.values():
            assert len(value) <= 63 and _LABEL_VALUE.fullmatch(value), f"label value {value!r}"
    pod = job.spec.template.spec
    if job.spec.pod_failure_policy is not None:
        assert pod.restart_policy == "Never", "a podFailurePolicy needs restartPolicy Never"
        for rule in job.spec.pod_failure_policy.rules:
            assert rule.action in ("FailJob", "Ignore", "Count", "FailIndex"), rule.action
            if rule.on_exit_codes is not None:
                assert rule.on_exit_codes.operator in ("In", "NotIn") and 0 not in rule.on_exit_codes.values
                assert rule.on_exit_codes.container_name in [c.name for c in pod.containers]
    for container in pod.containers:
        for quantities in (
            (container.resources.limits or {}, container.resources.requests or {})
            if container.resources
            else ()
        ):
            for key, value in quantities.items():
                assert _QUANTITY.fullmatch(value), f"{key}: {value!r} is not a quantity"
    assert (job.spec.active_deadline_seconds or 1) > 0 and (job.spec.backoff_limit or 0) >= 0
    return job
