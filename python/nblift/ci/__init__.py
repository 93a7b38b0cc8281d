"""CI pipelines for a project's notebook: `nblift ci init --github | --gitlab | --jenkins` writes one, and
the pipeline's own steps (`nblift ci report`, `nblift ci promote`) are nblift commands too.

`pipeline.py` builds the pipeline as data (ordered steps of commands, each with when it runs); `writers.py`
turns it into a GitHub Actions workflow, a GitLab CI file or a declarative Jenkinsfile; `report.py` writes the
Markdown report and `post.py` posts it where the CI system shows such reports. Nothing heavy is imported here.
"""
