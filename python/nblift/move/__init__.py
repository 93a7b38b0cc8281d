"""Moving a live notebook session to an SSH host and back (`%lift move ssh:NAME`, `%lift move back`).

Moving there, from the notebook's kernel (`to_host.py`; its SSH side in `host_side.py`): a snapshot
(foreground, each object sent as soon as it is written), a plan (what the host lacks, what cannot be stored
and which cells made it, preflight against the target), then the project's files, the lock's environment
(built by the ssh backend's agent, cached as runs' are), the snapshot's missing objects and its manifest sent
to the session's folder on the host; a kernel spec naming the `nblift-ssh` provisioner; the Jupyter server
starts that kernel (while the snapshot is taken, when the environment is cached there; it restores the
snapshot once the mover's request appears: `target/kernel_restore.py`) and switches the notebook's session
to it, so the same tab goes on there.

Moving back, from the kernel on the host: a snapshot there and a request file beside it; the provisioner at
home sees the request (it waits for it on the host) and brings the snapshot home (`back.py`), starts a kernel
of the notebook's former kind, restores the snapshot in it, switches the session and stops the kernel on the
host. The home snapshot taken before the move stays restorable if the host disappears.
"""
