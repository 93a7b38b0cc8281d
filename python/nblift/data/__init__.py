"""Data that travels with a run: which inputs a notebook has, their content hashes and versions, and whether
they changed since the last snapshot.

- `manifest`: the data manifest (one entry per input) and its JSON form;
- `hashcache`: the persistent hash cache in the project's state folder, keyed by (device, inode, mtime, size);
- `local`: BLAKE3 of files and folders (a folder is a tree hash over its files), md5 for DVC;
- `dvc`: what `.dvc` files and `dvc.lock` record, and whether the workspace still matches it;
- `inputs`: the inputs of a project or notebook, gathered into a manifest and compared with a baseline;
- `verbs` / `render`: the `data` verb of the command table.

Nothing here is imported by `import nblift`: the verb and the snapshot import it when they need it.
"""
