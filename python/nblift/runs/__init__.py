"""Runs: a notebook executed top to bottom in a fresh kernel on a backend, recorded as an MLflow run.

The spine every backend shares: the bundle (nblift.bundle), the runner (`python -m nblift.target.runner`) that
executes it on the target and writes events, the local run record (`.nblift/runs/<id>/`) and the service
(nblift.runs.service) the CLI, the magic and the REST API call.
"""
