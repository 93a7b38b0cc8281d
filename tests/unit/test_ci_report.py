"""The pipeline's report: escaped Markdown, metrics against the champion, links where each CI system keeps
artifacts, and posting: GitHub's job summary, a GitLab merge request note through a real HTTP server on
loopback standing in for GitLab's API (the token only in the header), Jenkins' archive."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nblift.ci.post import detect, post
from nblift.ci.report import Candidate, artifact_link, code, md, metrics_table, metrics_text
from nblift.ci.verbs import on_default_branch
from nblift.errors import InvalidInput


def test_markdown_escapes_what_users_control():
    hostile = "acc|uracy <script>alert(1)</script> `x` [a](javascript:1)\nsecond line"
    text = md(hostile)
    assert "\n" not in text and "<script>" not in text and "](" not in text
    assert text.count("\\|") == 1 and "\\<script\\>" in text
    assert code("a`b|c\nd") == "`a'b\\|c d`"
    row = metrics_table(Candidate(None, "3", {hostile: 0.9}, "2", {hostile: 0.8}))[2]
    assert row.count("|") - row.count("\\|") == 5  # the table keeps its four columns


def test_metrics_against_the_champion():
    found = Candidate(None, "4", {"accuracy": 0.91, "loss": 0.2}, "3", {"accuracy": 0.9, "auc": 0.8})
    table = metrics_table(found)
    assert table[0] == "| metric | candidate (v4) | champion (v3) | change |"
    assert "| accuracy | 0.91 | 0.9 | +0.01 |" in table
    assert "| auc | - | 0.8 | - |" in table and "| loss | 0.2 | - | - |" in table
    first = metrics_table(Candidate(None, "1", {"accuracy": 0.9}, None, {}))
    assert "champion (none yet)" in first[0]
    assert "registered no version" in metrics_table(Candidate(None, None, {}, None, {}))[0]
    assert metrics_text(found) == "accuracy 0.91\nloss 0.2\n"


def test_links_where_each_system_keeps_artifacts():
    path = "ml/churn/nblift-ci/run/train.ipynb"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "7",
        "GITHUB_SERVER_URL": "https://gh.example",
        "GITHUB_REPOSITORY": "team/churn",
    }
    assert artifact_link(path, github) == "https://gh.example/team/churn/actions/runs/7#artifacts"
    gitlab = {"GITLAB_CI": "true", "CI_JOB_URL": "https://gl.example/team/churn/-/jobs/9"}
    assert artifact_link(path, gitlab) == f"https://gl.example/team/churn/-/jobs/9/artifacts/file/{path}"
    jenkins = {"JENKINS_URL": "https://ci.example/", "BUILD_URL": "https://ci.example/job/churn/5/"}
    assert artifact_link(path, jenkins) == f"https://ci.example/job/churn/5/artifact/{path}"
    assert artifact_link(path, {}) is None


def test_default_branch_from_each_system():
    assert on_default_branch({"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}, "x") == (True, "main")
    assert on_default_branch({"CI_COMMIT_BRANCH": "dev", "CI_DEFAULT_BRANCH": "main"}, "dev")[0] is False
    assert (
        on_default_branch({"CI_MERGE_REQUEST_IID": "3"}, "main")[0] is False
    )  # an MR pipeline names no branch
    assert on_default_branch({"GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "push"}, "main")[0] is True
    assert (
        on_default_branch({"GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "pull_request"}, "main")[0]
        is False
    )
    assert on_default_branch({"BRANCH_NAME": "main"}, "main")[0] is True
    assert on_default_branch({"BRANCH_NAME": "main", "CHANGE_ID": "12"}, "main")[0] is False
    assert on_default_branch({}, "main") == (False, "")


def test_github_job_summary_is_appended(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert detect(env) == "github"
    assert post("## report", "auto", env) == ("github", "added to the job summary")
    assert summary.read_text() == "earlier step\n## report\n"
    assert "not posted" in post("## report", "github", {})[1]


class _GitLab(BaseHTTPRequestHandler):
    seen: list[dict] = []
    status = 201

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append({"path": self.path, "token": self.headers.get("PRIVATE-TOKEN"), "body": body})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": 77}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gitlab_api():
    _GitLab.seen, _GitLab.status = [], 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()
    server.server_close()


def test_gitlab_merge_request_note_through_the_api(gitlab_api):
    env = {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": gitlab_api,
        "CI_PROJECT_ID": "team/churn",
        "CI_MERGE_REQUEST_IID": "12",
        "NBLIFT_GITLAB_TOKEN": "glpat-secret-value",
    }
    system, done = post("## nblift report", "auto", env)
    assert system == "gitlab" and "noted on merge request !12 (note 77)" in done
    (request,) = _GitLab.seen
    assert request["path"] == "/api/v4/projects/team%2Fchurn/merge_requests/12/notes"
    assert request["token"] == "glpat-secret-value"
    assert json.loads(request["body"]) == {"body": "## nblift report"}
    assert "secret" not in done

    _GitLab.status = 403
    done = post("## nblift report", "gitlab", env)[1]
    assert "refused (HTTP 403)" in done and "secret" not in done

    # Not a merge request pipeline, or no token: the artifact only, and no request.
    _GitLab.seen.clear()
    assert "not a merge request" in post("r", "gitlab", {**env, "CI_MERGE_REQUEST_IID": ""})[1]
    assert "NBLIFT_GITLAB_TOKEN" in post("r", "gitlab", {**env, "NBLIFT_GITLAB_TOKEN": ""})[1]
    assert _GitLab.seen == []
    with pytest.raises(InvalidInput):
        post("r", "gitlab", {**env, "CI_API_V4_URL": "file:///etc/passwd"})


def test_gitlab_api_down_is_said_not_raised():
    env = {
        "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",
        "CI_PROJECT_ID": "1",
        "CI_MERGE_REQUEST_IID": "2",
        "GITLAB_TOKEN": "t0ken",
    }
    done = post("r", "gitlab", env)[1]
    assert "note failed" in done and "t0ken" not in done


def test_jenkins_and_outside_ci(tmp_path):
    assert detect({"JENKINS_URL": "https://ci.example/"}) == "jenkins"
    assert "archives" in post("r", "auto", {"JENKINS_URL": "https://ci.example/"})[1]
    assert post("r", "auto", {}) == ("none", "written only (not running in a CI system)")
    with pytest.raises(InvalidInput):
        post("r", "teamcity", {})
    assert Path(tmp_path).is_dir()
