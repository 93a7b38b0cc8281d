"""Recognise secrets before they are stored: by variable name, by value, and inside stored text.

Secrets never land in a store (SECURITY.md, "Secrets"): the snapshot redacts, at capture time, every value
that carries a known token format or credentials in a URL (whatever its name), and every value that could hold
a secret (text, or a dict/list/tuple/set of text) under a name that looks like a key/token/password.
`redaction_reason` is the one decision the snapshot asks for. Objects that cannot hold a secret as such (a
`pd.Grouper` called `time_key`, `key = 3`, a function called `token`) are stored whatever their name.
Reasons returned here name the kind of secret, never the secret itself.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
from collections.abc import Iterator

REDACTED = "[REDACTED]"

# -- names ---------------------------------------------------------------------------------------------
# A name is split into lower-case words on `_`, `-`, `.`, digits and camelCase (`OPENAI_API_KEY` -> openai,
# api, key; `hfToken` -> hf, token; `APIKey` -> api, key), then judged word by word, so `keyboard`,
# `monkey`, `author` and `tokenizer` (one word each, none of them a secret word) stay out.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Words that make a name secret wherever they appear (unless a neighbour below neutralises them).
_SECRET_WORDS = frozenset(
    {
        "key",
        "token",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "credential",
        "credentials",
        "cred",
        "creds",
        "auth",
        "oauth",
        "authorization",
        "private",
        "apikey",
    }
)
# Sub-strings that make a word secret even when glued to others (`dbpassword`, `clientsecret`).
_SECRET_PARTS = ("passw", "passphrase", "credential", "secret")
_NOT_SECRET_PARTS = ("secretar",)  # secretary, secretariat

# Qualifiers that turn plurals and glued words into secrets: `api_keys`, `ssh_keys`, `apikey`, `hftoken`.
_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "ssh",
        "auth",
        "oauth",
        "client",
        "signing",
        "encryption",
        "aws",
        "gpg",
        "pgp",
        "master",
        "service",
        "license",
        "rsa",
        "refresh",
        "session",
        "bearer",
        "id",
        "github",
        "gh",
        "hf",
        "slack",
        "csrf",
        "xsrf",
        "jwt",
        "personal",
        "priv",
    }
)
_QUALIFIED_SUFFIXES = ("keys", "key", "tokens", "token")

# Neighbours that make a secret word harmless: (words before it, words after it).
_BENIGN_NEIGHBOURS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "key": (
        frozenset(
            {
                "sort",
                "primary",
                "foreign",
                "dict",
                "cache",
                "group",
                "groupby",
                "partition",
                "join",
                "merge",
                "hash",
                "lookup",
                "index",
                "row",
                "col",
                "column",
                "map",
                "rng",
                "prng",
                "random",
                "sub",
                "shard",
                "unique",
                "composite",
                "query",
                "attention",
                "attn",
                "music",
                "press",
                "hot",
                "short",
                "shortcut",
                "dataset",
                "split",
                "label",
                "batch",
                "sample",
                "item",
                "node",
                "config",
                "cfg",
                "metric",
                "feature",
                "table",
                "dim",
            }
        ),
        frozenset(
            {
                "fn",
                "func",
                "function",
                "col",
                "cols",
                "column",
                "columns",
                "name",
                "names",
                "field",
                "fields",
                "list",
                "set",
                "map",
                "order",
                "type",
                "types",
                "states",
                "proj",
                "dim",
                "len",
                "length",
                "count",
                "index",
                "idx",
                "path",
                "file",
                "filename",
            }
        ),
    ),
    "token": (
        frozenset(
            {
                "bos",
                "eos",
                "pad",
                "unk",
                "cls",
                "sep",
                "mask",
                "special",
                "start",
                "end",
                "stop",
                "sos",
                "eot",
                "max",
                "min",
                "num",
                "n",
                "total",
                "per",
                "prompt",
                "completion",
                "generated",
            }
        ),
        frozenset(
            {
                "id",
                "ids",
                "count",
                "counts",
                "type",
                "types",
                "len",
                "length",
                "idx",
                "index",
                "embedding",
                "embeddings",
                "embeds",
                "emb",
                "logits",
                "probs",
                "level",
                "limit",
                "budget",
                "usage",
            }
        ),
    ),
    "pass": (
        frozenset(
            {
                "forward",
                "backward",
                "first",
                "second",
                "third",
                "last",
                "next",
                "single",
                "multi",
                "one",
                "two",
                "n",
                "num",
                "train",
                "eval",
                "val",
                "test",
                "render",
                "by",
                "high",
                "low",
                "band",
            }
        ),
        frozenset({"rate", "count", "fail", "num", "through"}),
    ),
    "private": (
        frozenset({"is", "has", "make", "set"}),
        frozenset({"ip", "subnet", "network", "dns", "repo", "repos", "mode", "method", "methods"}),
    ),
    "auth": (
        frozenset(),
        frozenset(
            {"type", "method", "mode", "scheme", "url", "uri", "endpoint", "provider", "enabled", "required"}
        ),
    ),
}


def name_words(name: str) -> list[str]:
    """`name` split into lower-case words on separators, digits and camelCase boundaries."""
    return [w.lower() for w in _WORD.findall(name)]


def _secret_word(words: list[str], i: int) -> bool:
    """Whether words[i] makes the name secret, given its neighbours."""
    word = words[i]
    if word in _SECRET_WORDS:
        before, after = _BENIGN_NEIGHBOURS.get(word, (frozenset(), frozenset()))
        prev = words[i - 1] if i > 0 else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        return prev not in before and nxt not in after
    if any(p in word for p in _SECRET_PARTS) and not any(p in word for p in _NOT_SECRET_PARTS):
        return True
    if word in ("keys", "tokens"):  # plurals count only when qualified: `api_keys`, not `keys`/`n_tokens`
        return i > 0 and words[i - 1] in _QUALIFIERS
    return any(
        word.endswith(suffix) and word[: -len(suffix)] in _QUALIFIERS for suffix in _QUALIFIED_SUFFIXES
    )


def secret_name(name: str) -> bool:
    """True for names that look like they hold a secret (`api_key`, `GITHUB_TOKEN`, `dbPassword`, `auth`).

    Rule: split the name into words (see `name_words`); it is secret when a word is one of the secret words
    (key, token, secret, password/passwd/passphrase, pwd, pass, credential(s), creds, auth, oauth,
    authorization, private, apikey), or contains `passw`/`secret`/`credential`, or is a qualified plural or
    glued word (`api_keys`, `ssh_keys`, `apikey`, `accesstoken`). Neighbours known to be harmless
    neutralise a word: `sort_key`, `key_fn`, `bos_token`, `token_ids`, `max_token`, `forward_pass`,
    `is_private`, `auth_url`. Plain `keys`, `tokens`, `n_tokens`, `keyboard`, `monkey`, `author` and
    `tokenizer` are not secret.
    """
    words = name_words(name)
    return any(_secret_word(words, i) for i in range(len(words)))


# -- can a value under a secret-looking name be a secret? -------------------------------------------------
# A name is STRONG when it says what the value is beyond doubt: a password word (password, passwd, pwd, pass,
# passphrase, secret, credential, creds), auth/oauth/authorization/private, or a key/token word that is
# qualified (`api_key`, `AWS_ACCESS_KEY_ID`, `secret_key`, `github_token`, `apikey`, `api_keys`).
# Passwords are chosen by people and may be short plain words (`hunter2`, `letmein`), so under a strong name
# ANY non-blank text counts as a secret.
# A name is WEAK when its only secret word is an unqualified `key`/`token` (`key`, `token`, `time_key`,
# `user_token`): data code uses these for column names and labels (`key = 'a'`, `key = 'date'`). Keys and
# tokens are machine-made, long and random, so under a weak name only text that looks generated counts: at
# least 8 characters with a digit or a lower-to-upper case change inside a word (`abcd1234efgh`, `aBcDeFgH`),
# or bytes that are not printable text. Plain words (`user_id`, `start_day`, `Date Column`) and anything
# shorter than 8 characters are stored.
_WEAK_WORDS = frozenset({"key", "token"})
_MIN_GENERATED = 8
_GENERATED = re.compile(r"[0-9]|[a-z][A-Z]")


def _name_strength(name: str) -> str | None:
    """The strength of a secret-looking name, "strong" or "weak" (see above); None when not secret-looking."""
    words = name_words(name)
    strength = None
    for i, word in enumerate(words):
        if not _secret_word(words, i):
            continue
        if word in _WEAK_WORDS and not (i > 0 and words[i - 1] in _QUALIFIERS):
            strength = "weak"
        else:
            return "strong"
    return strength


def _credential_text(text: str | bytes | bytearray, strength: str) -> bool:
    """Whether `text`, held under a name of this strength, could be a credential."""
    if isinstance(text, bytes | bytearray):
        try:
            decoded = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            decoded = None
        if decoded is None or not decoded.strip().isprintable():  # binary: a raw key (`os.urandom(32)`)
            return len(text) > 0 if strength == "strong" else len(text) >= _MIN_GENERATED
        text = decoded
    text = text.strip()
    if strength == "strong":
        return bool(text)
    return len(text) >= _MIN_GENERATED and _GENERATED.search(text) is not None


def _text_leaves(value: object, max_items: int, max_depth: int) -> list[str | bytes | bytearray]:
    """The text in `value`: itself, or the items (values, for a dict) of dicts/lists/tuples/sets, breadth
    first, nested down to `max_depth` levels and `max_items` items in all, so a big container is judged by
    its first items and costs little."""
    if isinstance(value, _TEXT):
        return [value]
    leaves: list[str | bytes | bytearray] = []
    budget = max_items
    queue: collections.deque[tuple[object, int]] = collections.deque([(value, max_depth)])
    while queue and budget > 0:
        container, depth_left = queue.popleft()
        if depth_left <= 0 or not isinstance(container, _CONTAINERS):
            continue
        items = container.values() if isinstance(container, dict) else container
        for item in itertools.islice(items, budget):
            budget -= 1
            if isinstance(item, _TEXT):
                leaves.append(item)
            elif isinstance(item, _CONTAINERS):
                queue.append((item, depth_left - 1))
    return leaves


def name_may_hide_secret(name: str, value: object, *, max_items: int = 1000, max_depth: int = 3) -> bool:
    """Whether `value`, stored under `name`, could be the secret that the name announces.

    False unless `secret_name(name)`. Only text (str, bytes, bytearray) and dicts/lists/tuples/sets holding
    text can be: a number, a frame, a function or any other object under a secret-looking name is not (its
    content is still checked for token formats by `secret_value`). Text counts by the name's strength
    (see the comment above `_name_strength`): under `password`/`api_key` any non-blank text, under a bare
    `key`/`token` only generated-looking text of 8+ characters, so `key = 'a'` is stored. Containers are
    read breadth first, `max_items` items and `max_depth` levels at most.
    """
    strength = _name_strength(name)
    if strength is None:
        return False
    return any(_credential_text(leaf, strength) for leaf in _text_leaves(value, max_items, max_depth))


def redaction_reason(name: str, value: object) -> str | None:
    """Why the variable `name = value` must not be stored, or None to store it.

    By content first, for any value and any name (`secret_value`: token formats, URL credentials,
    `os.environ`, secrets inside small containers): "its value looks like a GitHub token". Then by name, for
    values that could hold a secret (`name_may_hide_secret`): "its name looks like a secret". The reason
    never contains the value.
    """
    found = secret_value(value)
    if found:
        return f"its value {found}"
    if name_may_hide_secret(name, value):
        return "its name looks like a secret"
    return None


# -- values --------------------------------------------------------------------------------------------
# Each format is one regex that starts with a literal (so `re` scans for it at C speed) and checks the
# character before that literal with a lookbehind placed after it: a token glued to other letters
# (`task-...`, base64 image data in a notebook) is not one.
_B = r"(?<![A-Za-z0-9]{lit})"
_SK_BODY = r"(?=[A-Za-z0-9_\-]{20})[A-Za-z_\-]*[0-9][A-Za-z0-9_\-]*"  # 20+ chars with at least one digit
_FORMATS: tuple[tuple[str, str], ...] = (
    ("an Anthropic API key", "sk-ant-" + _B.format(lit="sk-ant-") + _SK_BODY),
    ("an OpenAI API key", "sk-" + _B.format(lit="sk-") + r"(?!ant-)(?:proj-|svcacct-|admin-)?" + _SK_BODY),
    ("a GitHub token", "gh" + _B.format(lit="gh") + r"[pousr]_[A-Za-z0-9]{30,}"),
    ("a GitHub token", "github_pat_" + _B.format(lit="github_pat_") + r"[A-Za-z0-9_]{22,}"),
    ("an AWS access key id", "AKIA" + _B.format(lit="AKIA") + r"[0-9A-Z]{16}(?![A-Za-z0-9])"),
    ("an AWS access key id", "ASIA" + _B.format(lit="ASIA") + r"[0-9A-Z]{16}(?![A-Za-z0-9])"),
    ("a Slack token", "xox" + _B.format(lit="xox") + r"[abprs]-[A-Za-z0-9\-]{10,}"),
    ("a Google API key", "AIza" + _B.format(lit="AIza") + r"[0-9A-Za-z_\-]{35}(?![A-Za-z0-9+/=_\-])"),
    (
        "a JSON Web Token",
        "eyJ" + _B.format(lit="eyJ") + r"[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
    ),
    ("a Hugging Face token", "hf_" + _B.format(lit="hf_") + r"[A-Za-z0-9]{30,}"),
    ("a private key (PEM)", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    # scheme://user:password@ : `://` preceded by a scheme character, no `/?#@` before the `@`.
    ("a URL with credentials", r"://(?<=[A-Za-z0-9+.\-]://)[^\s/?#@:'\"<>\\]*:[^\s/?#@'\"<>\\]+@"),
)
_URL_FORMAT = len(_FORMATS) - 1
_PEM_FORMAT = len(_FORMATS) - 2
_STR_FORMATS = tuple((reason, re.compile(p)) for reason, p in _FORMATS)
_BYTES_FORMATS = tuple((reason, re.compile(p.encode("ascii"))) for reason, p in _FORMATS)
_CONTAINERS = (dict, list, tuple, set, frozenset)
_TEXT = (str, bytes, bytearray)
_TEXT_OR_CONTAINER = (*_TEXT, *_CONTAINERS)


def text_secret(text: str | bytes | bytearray, *, max_chars: int = 16 << 20) -> str | None:
    """What kind of secret `text` holds ("a GitHub token"...), or None. Reads the first `max_chars` only."""
    head = text[:max_chars] if len(text) > max_chars else text
    formats = _STR_FORMATS if isinstance(head, str) else _BYTES_FORMATS
    for reason, pattern in formats:
        if pattern.search(head):  # type: ignore[arg-type]
            return reason
    return None


def _is_environ(value: object) -> bool:
    return isinstance(value, type(os.environ))


def _items(value: object) -> Iterator[tuple[object | None, object]]:
    """(key, item) pairs of a container; the key is None for sequences and sets."""
    if isinstance(value, dict):
        yield from value.items()
    else:
        for item in value:  # type: ignore[attr-defined]
            yield None, item


def secret_value(value: object, *, max_items: int = 1000, max_depth: int = 3) -> str | None:
    """A short reason when `value` carries a secret, else None. The reason never contains the secret.

    Looks at str/bytes (known token formats: OpenAI, Anthropic, GitHub, AWS access key ids, Slack, Google,
    JWT, Hugging Face, PEM private keys, URLs with credentials) and into small dicts/lists/tuples/sets: an
    item holding such a string, or a str/bytes item under a key that `secret_name` flags and that could be a
    credential under that name (`{"password": "hunter2"}`, not `{"key": "date"}`; see `name_may_hide_secret`).
    `os.environ` itself is always a secret. At most `max_items` items are looked at in all and containers
    are entered down to `max_depth` levels; a container larger than what is left is skipped, so a
    million-element list costs nothing. Other types (arrays, frames, objects) are not inspected here.
    """
    if isinstance(value, str | bytes | bytearray):
        found = text_secret(value)
        return f"looks like {found}" if found else None
    if _is_environ(value):  # environment variables are secrets as a whole (DESIGN.md)
        return "is the process environment (os.environ)"
    return _secret_in(value, [max_items], max_depth)


def _secret_in(value: object, budget: list[int], depth_left: int) -> str | None:
    """Reason for the first secret inside container `value`; `budget[0]` counts the items still allowed."""
    if _is_environ(value):
        return "holds the process environment (os.environ)"
    if depth_left <= 0 or not isinstance(value, _CONTAINERS):
        return None
    if len(value) > budget[0]:  # type: ignore[arg-type]
        return None
    budget[0] -= len(value)  # type: ignore[arg-type]
    for key, item in _items(value):
        if (
            isinstance(key, str)
            and isinstance(item, _TEXT_OR_CONTAINER)
            and name_may_hide_secret(key, item, max_items=budget[0], max_depth=depth_left - 1)
        ):
            return f"holds a value under the secret-looking name {key[:40]!r}"
        if isinstance(key, str | bytes) and (found := text_secret(key)):
            return f"holds {found} (as a key)"
        if isinstance(item, str | bytes | bytearray):
            found = text_secret(item)
        else:
            found = None
            reason = _secret_in(item, budget, depth_left - 1)
            if reason:
                return reason
        if found:
            return f"holds {found}"
    return None


# -- text ----------------------------------------------------------------------------------------------
# `name = "value"`, `name: 'value'`, `"name": "value"` and the JSON-escaped `name = \"value\"` found in
# notebook files; the value is replaced when `secret_name(name)` flags the name and the value could be
# a credential under it (`_credential_text`).
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_\-])(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)(?P<close>\\?[\"']?\]?)"
    r"(?P<sep>\s*(?::=|==|!=|:|=)\s*)"
    r"(?P<quote>\\?[\"'])(?P<value>(?:(?!(?P=quote)).){1,4096}?)(?P=quote)"
)


# The PEM block as a whole: header, body (real or JSON-escaped newlines) and footer when present.
_PEM_BLOCK = re.compile(
    _FORMATS[_PEM_FORMAT][1]
    + r"(?:(?:[A-Za-z0-9+/=:,\- \t\r\n]|\\[rn])*-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    + r"|(?:[A-Za-z0-9+/=\s]|\\[rn])*)"
)


def _scrub_assignment(match: re.Match[str]) -> str:
    strength = _name_strength(match["name"])
    if strength is None or match["value"] == REDACTED or not _credential_text(match["value"], strength):
        return match.group(0)
    start, end = match.span("value")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + REDACTED + whole[end - offset :]


def scrub_text(text: str) -> str:
    """`text` with secrets replaced by [REDACTED]: token formats, PEM private key blocks, URL credentials
    (`https://[REDACTED]@host`) and quoted values assigned to secret-looking names (`api_key = "..."`,
    `"password": "..."`, and the JSON-escaped `\\"` form found in notebook files) when they could be a
    credential under that name (`key = "a"` stays, as the variable itself is stored; see
    `name_may_hide_secret`).

    Used on what a snapshot stores as text (cell sources, the notebook file, the git diff).
    """
    for i, (_, pattern) in enumerate(_STR_FORMATS):
        if i == _URL_FORMAT:
            text = pattern.sub(f"://{REDACTED}@", text)
        elif i == _PEM_FORMAT:
            text = _PEM_BLOCK.sub(REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return _ASSIGNMENT.sub(_scrub_assignment, text)
