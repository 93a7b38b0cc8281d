"""Post the report where the CI system shows such reports.

- GitHub Actions: appended to the job summary (the file `$GITHUB_STEP_SUMMARY` names).
- GitLab CI: the report folder is a job artifact the merge request links to (`expose_as`); in a merge request
  pipeline with an API token (`NBLIFT_GITLAB_TOKEN`, else `GITLAB_TOKEN`), also a note on the merge request
  through GitLab's REST API (`$CI_API_V4_URL`).
- Jenkins: the report folder is archived with the build (`archiveArtifacts` in the Jenkinsfile).

The token is sent only in the request header and appears in no message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from ..errors import InvalidInput

SYSTEMS = ("auto", "github", "gitlab", "jenkins", "none")
TOKEN_VARIABLES = ("NBLIFT_GITLAB_TOKEN", "GITLAB_TOKEN")
NOTE_LIMIT = 1_000_000  # GitLab refuses longer notes


def detect(environ: Mapping[str, str]) -> str:
    """The CI system this process runs in, from the variables each one sets ("none" outside CI)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    if environ.get("JENKINS_URL") or environ.get("JENKINS_HOME"):
        return "jenkins"
    return "none"


def _github(report: str, environ: Mapping[str, str]) -> str:
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return "not posted: GITHUB_STEP_SUMMARY is not set (outside a GitHub Actions step)"
    with Path(summary).open("a", encoding="utf-8") as stream:
        stream.write(report if report.endswith("\n") else report + "\n")
    return "added to the job summary"


def _gitlab(report: str, environ: Mapping[str, str]) -> str:
    token = next((environ[k] for k in TOKEN_VARIABLES if environ.get(k)), None)
    iid = environ.get("CI_MERGE_REQUEST_IID")
    api, project = environ.get("CI_API_V4_URL"), environ.get("CI_PROJECT_ID")
    if not iid:
        return "kept as the job artifact (not a merge request pipeline: no note)"
    if not token:
        return "kept as the job artifact (set NBLIFT_GITLAB_TOKEN, a token with api scope, to add a note)"
    if not api or not project:
        return "kept as the job artifact (CI_API_V4_URL or CI_PROJECT_ID is not set: no note)"
    if urllib.parse.urlsplit(api).scheme not in ("https", "http"):
        raise InvalidInput("CI_API_V4_URL is not an http(s) URL", hint="leave it as GitLab sets it")
    url = f"{api.rstrip('/')}/projects/{urllib.parse.quote(project, safe='')}/merge_requests/{int(iid)}/notes"
    body = json.dumps({"body": report[:NOTE_LIMIT]}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST", headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            note = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return f"kept as the job artifact; the merge request note was refused (HTTP {exc.code})"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"kept as the job artifact; the merge request note failed ({type(exc).__name__}: {reason})"
    return f"kept as the job artifact and noted on merge request !{int(iid)} (note {note.get('id', '?')})"


def post(report: str, system: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """Post `report` for `system` (`auto`: the one this runs in); (the system, what was done)."""
    if system not in SYSTEMS:
        raise InvalidInput(f"unknown CI system {system!r}", hint=f"--post {' | '.join(SYSTEMS)}")
    if system == "auto":
        system = detect(environ)
    if system == "github":
        return system, _github(report, environ)
    if system == "gitlab":
        return system, _gitlab(report, environ)
    if system == "jenkins":
        return system, "kept with the build (the Jenkinsfile archives the report folder)"
    return system, "written only (not running in a CI system)"
