"""The model registry inside the notebook: register a kernel variable as an MLflow model version with its
lineage, move aliases, promote through gates with approvals and an audit trail, model cards, lineage graph.

MLflow's model registry is the store of record; nblift adds what it lacks (gates, approvals, the audit trail,
lineage back to snapshots, locks and data) as version tags, run artifacts and a file under the state folder.
"""
