"""Jupyter server extension: the REST API the JupyterLab panels call (`/nblift/api/...`)."""
