"""Experiments: MLflow runs as notebook users see them, fast at a team's whole history.

`search` reads runs for the panel (straight from the embedded SQLite store, through MLflow's client for a
tracking server); `logger` is `nblift.log`'s fast path; `track` binds an MLflow run to a notebook.
"""
