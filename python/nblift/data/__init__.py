"""Data that travels with a run: which inputs a notebook has, their content hashes and versions, and whether
they changed since the last snapshot.

- `manifest`: the data manifest (one entry per input) and its JSON form;
- `hashcache`: the persistent hash cache in the project's state folder, keyed by (device, inode, mtime, size);
- `local`: BLAKE3 of files and folders (a folder is a tree hash over its files), md5 for DVC;
- `dvc`: what `.dvc` files and `dvc.lock` record, and whether the workspace still matches it;
- `inputs`: the inputs of a project or notebook, gathered into a manifest and compared with a baseline;
- `sources` / `lakefs`: URI inputs (`s3://`, `lakefs://`, other fsspec URIs) resolved to a version, fetched;
- `sending` / `fetched`: inputs sent with a remote run through the store, and put in place where it runs;
- `mlflow_inputs`: the manifest as MLflow dataset inputs, read back for comparisons, lineage and cards;
- `verbs` / `render`: the `data` verb of the command table.

Nothing here is imported by `import nblift`: the verb and the snapshot import it when they need it.
"""


def input_path(uri: str) -> str:
    """The local path of URI input `uri` (`s3://...`, `lakefs://...`): in a run, exactly the version the
    run recorded when it was launched; elsewhere, the version it has now."""
    from .fetched import input_path as _input_path

    return _input_path(uri)
