"""Code that runs where a run executes (the target), never at home: the runner (`python -m
nblift.target.runner`), its papermill engine and MLflow tracker, the stdlib-only SSH agent and the Ray job's
entry point. Home code (backends, the run service, the doors) never imports these modules, except the
tracker's closing of a lost run's MLflow run."""
