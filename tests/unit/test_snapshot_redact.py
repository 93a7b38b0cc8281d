"""Secrets are recognised by name, by value and inside stored text, and never echoed back.

Fake tokens are assembled at run time so that no secret scanner mistakes this file for a leak.
"""

from __future__ import annotations

import os
import time

import pytest

from nblift.snapshot.redact import (
    REDACTED,
    name_may_hide_secret,
    name_words,
    redaction_reason,
    scrub_text,
    secret_name,
    secret_value,
    text_secret,
)

ALNUM = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4bC6"


def fake(prefix: str, body: str) -> str:
    return prefix + body


TOKENS = {
    "an OpenAI API key": fake("sk-", "proj-" + ALNUM + ALNUM),
    "an OpenAI API key [legacy]": fake("sk-", ALNUM[:20] + "T3BlbkFJ" + ALNUM[:20]),
    "an Anthropic API key": fake("sk-ant-", "api03-" + ALNUM + ALNUM),
    "a GitHub token [ghp]": fake("gh" + "p_", ALNUM[:36]),
    "a GitHub token [gho]": fake("gh" + "o_", ALNUM[:36]),
    "a GitHub token [ghs]": fake("gh" + "s_", ALNUM[:36]),
    "a GitHub token [fine-grained]": fake("github" + "_pat_", "11ABCDEFG0" + ALNUM + "_" + ALNUM),
    "an AWS access key id": fake("AK" + "IA", "ABCDEFGHIJ234567"),
    "a Slack token": fake("xo" + "xb-", "1234567890-0987654321-" + ALNUM[:24]),
    "a Google API key": fake("AI" + "za", "Sy" + ALNUM[:33]),
    "a JSON Web Token": fake(
        "ey" + "J", "hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ),
    "a Hugging Face token": fake("hf" + "_", ALNUM[:34]),
    "a private key (PEM)": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA"
    + ALNUM
    + "\n-----END RSA PRIVATE KEY-----",
    "a private key (PEM) [openssh]": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
    + "-----END OPENSSH PRIVATE KEY-----",
    "a URL with credentials": "postgresql://analyst:" + "hunter2pass" + "@db.internal:5432/sales",
    "a URL with credentials [token user]": "https://oauth2:" + ALNUM[:20] + "@gitlab.com/group/repo.git",
}


@pytest.mark.parametrize("what", sorted(TOKENS))
def test_each_token_format_is_recognised_without_echoing_it(what):
    token = TOKENS[what]
    kind = what.split(" [")[0]
    for text in (token, f"export X={token}\n", f'headers = {{"Authorization": "Bearer {token}"}}'):
        reason = secret_value(text)
        assert reason == f"looks like {kind}"
        assert token not in reason
    assert text_secret(token.encode()) == kind
    assert secret_value(bytearray(token.encode())) == f"looks like {kind}"


@pytest.mark.parametrize(
    "text",
    [
        "sk-learn is a nickname for scikit-learn",
        "sk-learn-compatible-estimator-wrapper",  # long, but no digit: not a key
        "task-1234567890abcdefghij1234567890",  # `sk-` inside a word
        "https://github.com/org/repo.git",
        "ssh://git@github.com/org/repo.git",  # a user, no password
        "https://user@host:8080/path",
        "https://host:8080/a@b",  # `@` after the path starts
        "hf_hub_download",
        "AKIA is not a key on its own",
        "xAIza" + "Sy" + ALNUM[:33],  # glued to a word
        "iVBORw0KGgo" + "AI" + "za" + "Sy" + ALNUM[:33] + "QmCC",  # inside base64 image data
        "plain text with numbers 12345 and a: colon",
        "",
    ],
)
def test_look_alikes_are_not_secrets(text):
    assert secret_value(text) is None


SECRET_NAMES = [
    "api_key",
    "OPENAI_API_KEY",
    "apiKey",
    "APIKey",
    "apikey",
    "key",
    "token",
    "github_token",
    "GITHUB_TOKEN",
    "hfToken",
    "HUGGING_FACE_HUB_TOKEN",
    "accesstoken",
    "bearer_token",
    "oauth_token",
    "secret",
    "client_secret",
    "clientSecret",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "password",
    "db_password",
    "DB_PASSWD",
    "mypassword",
    "passphrase",
    "pwd",
    "db_pass",
    "user_pass",
    "credentials",
    "creds",
    "gcp_credential",
    "auth",
    "auth_header",
    "Authorization",
    "private_key",
    "privateKey",
    "private",
    "ssh_keys",
    "api_keys",
    "api_tokens",
]
NOT_SECRET_NAMES = [
    "keys",
    "keyboard",
    "monkey",
    "hotkey",
    "turkey",
    "author",
    "authors",
    "authority",
    "authenticated",
    "tokenizer",
    "tokenize",
    "tokens",
    "n_tokens",
    "max_tokens",
    "max_new_tokens",
    "num_tokens",
    "bos_token",
    "pad_token_id",
    "token_ids",
    "token_count",
    "sort_key",
    "key_fn",
    "primary_key",
    "rng_key",
    "key_columns",
    "forward_pass",
    "num_passes",
    "bypass",
    "passenger",
    "passage",
    "passages",
    "compass",
    "secretary",
    "is_private",
    "auth_url",
    "df",
    "model",
    "PATH",
    "x",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name):
    assert secret_name(name), name_words(name)


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_that_only_look_like_secrets(name):
    assert not secret_name(name), name_words(name)


def test_names_are_split_on_underscores_digits_and_camel_case():
    assert name_words("OPENAI_API_KEY") == ["openai", "api", "key"]
    assert name_words("myAPIKey2") == ["my", "api", "key", "2"]
    assert name_words("hfToken") == ["hf", "token"]


def test_containers_holding_secrets():
    token = TOKENS["a GitHub token [ghp]"]
    assert secret_value({"config": {"nested": [token]}}) == "holds a GitHub token"
    assert secret_value([1, 2, (3, token)]) == "holds a GitHub token"
    assert secret_value({token: "user"}) == "holds a GitHub token (as a key)"
    assert secret_value({token}) == "holds a GitHub token"
    reason = secret_value({"user": "bob", "password": "hunter2"})
    assert reason == "holds a value under the secret-looking name 'password'"
    assert "hunter2" not in reason
    assert secret_value({"password": None, "api_key": ""}) is None  # nothing secret to keep out
    assert secret_value({"keys": "abc", "n_tokens": "12"}) is None


def test_the_environment_is_always_a_secret(monkeypatch):
    assert secret_value(os.environ) == "is the process environment (os.environ)"
    assert secret_value({"env": os.environ}) == "holds the process environment (os.environ)"
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-one")
    env = {k: v for k, v in os.environ.items() if k == "OPENAI_API_KEY" or not secret_name(k)}
    assert secret_value(env) == "holds a value under the secret-looking name 'OPENAI_API_KEY'"


class Watched(list):
    """A list that counts the items read from it."""

    read = 0

    def __iter__(self):
        for item in super().__iter__():
            self.read += 1
            yield item

    def __getitem__(self, index):
        self.read += len(range(*index.indices(len(self)))) if isinstance(index, slice) else 1
        return super().__getitem__(index)


def test_big_or_deep_containers_are_not_walked():
    token = TOKENS["a Slack token"]
    big = Watched([*range(1_000_000), token])
    assert secret_value(big) is None
    assert big.read == 0  # too big for the item budget: judged by its length alone
    assert secret_value([token] + [0] * 999) is not None
    assert secret_value([0] * 1000 + [token], max_items=1000) is None
    deep = [[[[token]]]]
    assert secret_value(deep) is None
    assert secret_value(deep, max_depth=4) == "holds a Slack token"
    wide = [[0] * 600, [0] * 390, [token] * 10]  # 1,003 items in all: the budget runs out first
    assert secret_value(wide) is None
    assert secret_value([[0] * 600, [0] * 380, [token] * 10]) == "holds a Slack token"


def test_other_types_are_not_inspected():
    class Config:
        api_key = TOKENS["an OpenAI API key"]

    assert secret_value(Config()) is None
    assert secret_value(12345) is None
    assert secret_value(None) is None


def test_long_text_is_scanned_quickly():
    text = "lorem ipsum dolor sit amet, " * 400_000 + TOKENS["a Hugging Face token"]
    start = time.perf_counter()
    assert secret_value(text) == "looks like a Hugging Face token"
    print(f"\nscanning {len(text) / 1e6:.1f} MB of text: {(time.perf_counter() - start) * 1000:.1f} ms")


def test_scrub_text_removes_secrets_and_keeps_the_rest():
    token = TOKENS["an OpenAI API key"]
    pem = TOKENS["a private key (PEM)"]
    source = (
        f'client = OpenAI(api_key="{token}")\n'
        'password = "hunter2"\n'
        "conn = connect('postgresql://bob:s3cret@db:5432/x')\n"
        f"{pem}\n"
        "max_tokens = 128\n"
        'sort_key = "name"\n'
        'if db_pass == "letmein": pass\n'
    )
    out = scrub_text(source)
    for secret in (token, "hunter2", "s3cret", "MIIEpAIBAAKCAQEA", "letmein"):
        assert secret not in out
    assert "postgresql://[REDACTED]@db:5432/x" in out
    assert f'password = "{REDACTED}"' in out
    assert "max_tokens = 128" in out
    assert 'sort_key = "name"' in out
    assert scrub_text(out) == out


def test_scrub_text_understands_notebook_json():
    import json

    token = TOKENS["a GitHub token [ghp]"]
    notebook = json.dumps(
        {"cells": [{"source": ['api_key = "abc123"\n', f"!git clone https://x:{token}@github.com/o/r\n"]}]}
    )
    out = scrub_text(notebook)
    assert "abc123" not in out
    assert token not in out
    assert json.loads(out)["cells"][0]["source"][0] == f'api_key = "{REDACTED}"\n'


# -- redaction_reason: what the snapshot asks for each variable ----------------------------------------


class Tokenizer:
    """An ordinary object whose name (and attributes) look like secrets."""

    def __init__(self) -> None:
        self.vocab = {"<pad>": 0, "hello": 1}


def token(text: str) -> list[str]:  # a function called `token`
    return text.split()


def _ordinary_objects() -> list[tuple[str, object]]:
    import pandas as pd

    return [
        ("time_key", pd.Grouper(freq="D")),  # the reported defect
        ("key", "a"),  # the reported defect
        ("key", 3),
        ("token", 3),
        ("api_key", 42),  # only text can be a secret by name
        ("token_count", 3),
        ("tokenizer", Tokenizer()),
        ("token", token),
        ("auth", lambda request: request),
        ("key", pd.DataFrame({"key": ["a", "b"], "value": [1, 2]})),
        ("credentials_df", pd.DataFrame({"n": [1, 2]})),
        ("api_keys", [1, 2, 3]),
        ("secret_ids", (7, 8, 9)),
        ("key", ["a", "date", "user_id"]),
        ("key", {"left": "id", "right": "customer_id"}),
        ("key", "user_id"),
        ("time_key", "start_day"),
        ("join_key", "Date Column"),
        ("token", "<|endoftext|>"),
        ("key", "abc1234"),  # under a bare `key`, fewer than 8 characters: not a generated key
        ("OPENAI_API_KEY", ""),  # nothing to keep out
        ("password", None),
        ("key", b"abc"),
        ("config", {"key": "date", "lr": 0.01, "sort_key": "name"}),
        ("keys", ["hunter22", "abcd1234efgh"]),  # `keys` alone is not a secret name
    ]


def _secrets() -> list[tuple[str, object, str]]:
    ghp = TOKENS["a GitHub token [ghp]"]
    return [
        ("api_key", "sk-live-" + ALNUM, "its value looks like an OpenAI API key"),
        ("api_key", "live_abc", "its name looks like a secret"),
        ("api_key", TOKENS["an OpenAI API key"], "its value looks like an OpenAI API key"),
        ("password", "hunter22", "its name looks like a secret"),
        ("password", "hunter2", "its name looks like a secret"),  # people choose short passwords
        ("db_pass", "letmein", "its name looks like a secret"),
        ("OPENAI_API_KEY", "not-a-real-one", "its name looks like a secret"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIK7MDENGbPxRfiCY", "its name looks like a secret"),
        ("key", "abcd1234efgh5678", "its name looks like a secret"),  # bare `key`, but generated-looking
        ("token", "aBcDeFgHiJkLmNoP", "its name looks like a secret"),
        ("user_token", "  9f86d081884c7d65  ", "its name looks like a secret"),
        ("api_key", b"abc123", "its name looks like a secret"),
        ("key", bytes(range(200, 232)), "its name looks like a secret"),  # a raw binary key
        ("secret", bytearray(b"hunter22"), "its name looks like a secret"),
        ("secrets", {"db": "hunter22"}, "its name looks like a secret"),
        ("credentials", {"user": "bob", "pin": "hunter2"}, "its name looks like a secret"),
        (
            "login",
            {"user": "bob", "password": "hunter2"},
            "its value holds a value under the secret-looking name 'password'",
        ),
        ("auth", ("bob", "hunter2"), "its name looks like a secret"),  # a requests-style auth tuple
        ("api_keys", ["abc"], "its name looks like a secret"),
        ("api_keys", [0] * 10 + [{"prod": "abc"}], "its name looks like a secret"),
        ("passwords", ["x"] * 5000, "its name looks like a secret"),  # big: judged by its first items
        ("x", ghp, "its value looks like a GitHub token"),  # token-shaped under any name
        ("readme", f"export GH={ghp}\n", "its value looks like a GitHub token"),
        ("config", {"nested": [ghp]}, "its value holds a GitHub token"),
        ("config", {"api_key": "abc"}, "its value holds a value under the secret-looking name 'api_key'"),
        ("config", {"api_keys": ["abc"]}, "its value holds a value under the secret-looking name 'api_keys'"),
        ("env", os.environ, "its value is the process environment (os.environ)"),
        ("blob", b"GH=" + ghp.encode(), "its value looks like a GitHub token"),
    ]


@pytest.mark.parametrize(("name", "value"), _ordinary_objects(), ids=lambda v: str(v)[:30])
def test_ordinary_objects_under_secret_looking_names_are_stored(name, value):
    assert redaction_reason(name, value) is None


@pytest.mark.parametrize(("name", "value", "reason"), _secrets(), ids=lambda v: str(v)[:30])
def test_secrets_are_redacted_with_a_reason_that_never_holds_them(name, value, reason):
    assert redaction_reason(name, value) == reason
    if isinstance(value, str) and value.strip():
        assert value.strip() not in reason


def test_the_name_rule_only_looks_at_text_a_secret_name_could_announce():
    assert not name_may_hide_secret("df", "hunter22")  # not a secret name: the name rule says nothing
    assert name_may_hide_secret("password", "hunter22")
    assert not name_may_hide_secret("password", 12345678)
    assert not name_may_hide_secret("key", "a")
    assert name_may_hide_secret("key", "a" * 7 + "1")  # 8 characters with a digit
    assert not name_may_hide_secret("key", "abcdefghijkl")  # a plain word
    assert not name_may_hide_secret("api_keys", [[[["abc"]]]])  # deeper than 3 levels: not read
    assert name_may_hide_secret("api_keys", [[[["abc"]]]], max_depth=4)
    big = Watched([*range(1_000_000), "abc"])
    assert not name_may_hide_secret("api_keys", big)  # the first 1,000 items hold no text
    assert 0 < big.read <= 1000


def test_secret_value_keeps_ordinary_config_values_under_key_like_names():
    assert secret_value({"key": "date", "time_key": "start_day", "token": "<pad>"}) is None
    assert secret_value({"key": "abcd1234efgh5678"}) == "holds a value under the secret-looking name 'key'"
    assert secret_value({"db": {"password": "x"}}) == "holds a value under the secret-looking name 'password'"


def test_scrub_text_keeps_what_the_snapshot_stores_and_hides_what_it_redacts():
    source = 'key = "a"\ntime_key = "date"\npassword = "hunter2"\ntoken = "abcd1234efgh5678"\n'
    out = scrub_text(source)
    assert 'key = "a"' in out
    assert 'time_key = "date"' in out
    assert f'password = "{REDACTED}"' in out
    assert f'token = "{REDACTED}"' in out
    for name, value in _ordinary_objects():
        if isinstance(value, str) and value:
            assert scrub_text(f"{name} = {value!r}") == f"{name} = {value!r}", name
    for name, value, _ in _secrets():
        if isinstance(value, str):
            assert value.strip() not in scrub_text(f"{name} = {value!r}"), name
