"""Kernel snapshots: encode values into the object store, group shared objects, redact secrets, sign."""
