"""Inputs named by a URI: objects in S3-compatible stores (`s3://BUCKET/KEY`), in lakeFS
(`lakefs://REPOSITORY/REF/PATH`) and anything else fsspec opens (`gs://`, `az://`, `https://`, ...).

Before a run starts, each is resolved to the version it has now (`resolve`): an S3 object's version id
(its ETag where the bucket is unversioned), a lakeFS ref's commit id (a branch moves; the commit does
not), or for other stores the version or checksum their listing gives. Where the run runs, `fetch` gets
exactly that version with that machine's own credentials (from its environment; nothing secret is ever
recorded), and refuses, naming the input, when the recorded version is gone.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInput, NbliftError
from .manifest import ERROR, MISSING, DataEntry

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: Fields of an fsspec `info()` that name a version, and ones that name the content, in order of trust.
_VERSION_KEYS = ("VersionId", "version_id", "generation")
_TAG_KEYS = ("ETag", "etag", "md5Hash", "md5", "checksum")
KIND = "object"


class SourceError(NbliftError):
    """An input's recorded version cannot be fetched (gone, changed, unreachable)."""

    status_code = 400


def is_uri(text: str) -> bool:
    return bool(_URI.match(text))


def scheme_of(uri: str) -> str:
    return uri.partition("://")[0].lower()


def _s3_parts(uri: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(uri)
    key = parts.path.lstrip("/")
    if not parts.netloc or not key or key.endswith("/"):
        raise InvalidInput(f"{uri} is not an S3 object URI", hint="write s3://BUCKET/KEY naming one object")
    return parts.netloc, key


def check_uri(uri: str) -> str:
    """`uri` if it names something nblift can resolve (InvalidInput saying how to write it otherwise)."""
    scheme = scheme_of(uri)
    if scheme in ("s3", "s3a"):
        _s3_parts(uri)
    elif scheme == "lakefs":
        from .lakefs import parse

        parse(uri)
    elif scheme in ("file", "local"):
        raise InvalidInput(f"{uri} is a local path", hint="track local files by their path in the project")
    else:
        try:
            from fsspec.registry import known_implementations, registry
        except ImportError:
            raise InvalidInput(f"{uri}: no filesystem for {scheme}://", hint="install fsspec") from None
        if scheme not in known_implementations and scheme not in registry:
            raise InvalidInput(
                f"{uri}: fsspec knows no filesystem for {scheme}://",
                hint="use s3://, lakefs:// or a scheme fsspec knows (gs://, az://, https://, ...)",
            )
    return uri


# -- S3 ------------------------------------------------------------------------------------------------------


def _s3_client() -> Any:
    """boto3's S3 client, configured from the environment (credentials, region, `AWS_ENDPOINT_URL`)."""
    try:
        import boto3
    except ImportError:
        raise ConfigError(
            "s3:// inputs need boto3", hint="install it where this runs (`pip install boto3`)"
        ) from None
    return boto3.client("s3")


def _s3_error(uri: str, exc: Exception) -> NbliftError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ConfigError(
            f"{uri}: no AWS credentials",
            hint="set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment",
        )
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket"):
            return SourceError(f"{uri}: not found ({code})", hint="check the bucket, the key and the version")
        if code in ("412", "PreconditionFailed"):
            return SourceError(
                f"{uri}: the object changed since its version was recorded (ETag differs) and the bucket "
                "keeps no versions",
                hint="turn on versioning for the bucket, or launch the run again to record the new version",
            )
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ConfigError(f"{uri}: access denied ({code})", hint="check the AWS credentials")
        return SourceError(f"{uri}: S3 answered {code}: {exc}", hint="check the bucket and the endpoint")
    return SourceError(f"{uri}: S3 cannot be reached: {exc}", hint="check AWS_ENDPOINT_URL and the network")


def _resolve_s3(uri: str) -> DataEntry:
    bucket, key = _s3_parts(uri)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head = _s3_client().head_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as exc:
        raise _s3_error(uri, exc) from None
    version = head.get("VersionId")
    version = None if version in (None, "null") else str(version)
    etag = str(head.get("ETag", "")).strip('"')
    record = f"{uri}?versionId={version}" if version else None
    size = int(head["ContentLength"])
    return DataEntry(uri, KIND, "tracked", f"etag:{etag}", size, version=version, record=record)


def _fetch_s3(entry: DataEntry, destination: Path) -> None:
    bucket, key = _s3_parts(entry.uri)
    etag = (entry.hash or "").removeprefix("etag:")
    extra = {"VersionId": entry.version} if entry.version else {"IfMatch": etag}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = _s3_client().get_object(Bucket=bucket, Key=key, **extra)
        with destination.open("wb") as fh:
            for chunk in reply["Body"].iter_chunks(1 << 20):
                fh.write(chunk)
    except (BotoCoreError, ClientError) as exc:
        raise _s3_error(entry.uri, exc) from None


# -- lakeFS --------------------------------------------------------------------------------------------------


def _resolve_lakefs(uri: str) -> DataEntry:
    from .lakefs import LakeFSClient, parse

    where = parse(uri)
    client = LakeFSClient.from_environment()
    commit = client.commit_of(where)
    stat = client.stat(where.at(commit))
    if stat.get("path_type") != "object":
        raise InvalidInput(f"{uri} is a prefix, not an object", hint="track the objects under it one by one")
    checksum = str(stat.get("checksum") or "")
    size = stat.get("size_bytes")
    return DataEntry(
        uri,
        KIND,
        "tracked",
        f"etag:{checksum}" if checksum else None,
        int(size) if isinstance(size, int) else None,
        version=commit,
        record=where.at(commit).uri,
    )


def _fetch_lakefs(entry: DataEntry, destination: Path) -> None:
    from .lakefs import LakeFSClient, parse

    if not entry.version:
        raise SourceError(f"{entry.uri}: no commit recorded", hint="launch the run again")
    LakeFSClient.from_environment().download(parse(entry.uri).at(entry.version), destination)


# -- other fsspec filesystems --------------------------------------------------------------------------------


def _fs(uri: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(uri)
    except ImportError as exc:
        raise ConfigError(f"{uri}: {exc}", hint="install the fsspec filesystem for this scheme") from None


def _content_tag(uri: str, fs: Any, path: str, info: dict[str, Any]) -> str:
    for key in _TAG_KEYS:
        if info.get(key):
            return f"etag:{str(info[key]).strip(chr(34))}"
    from .. import store

    hasher = store.new_hasher(int(info.get("size") or 0))
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    return f"blake3:{hasher.hexdigest()}"


def _resolve_fsspec(uri: str) -> DataEntry:
    fs, path = _fs(uri)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return DataEntry(uri, KIND, "tracked", None, None, state=MISSING, message="not found")
    if info.get("type") == "directory":
        raise InvalidInput(f"{uri} is a folder", hint="track the objects in it one by one")
    version = next((str(info[k]) for k in _VERSION_KEYS if info.get(k)), None)
    size = info.get("size")
    return DataEntry(
        uri, KIND, "tracked", _content_tag(uri, fs, path, info), int(size) if size is not None else None,
        version=version,
    )  # fmt: skip


def _fetch_fsspec(entry: DataEntry, destination: Path) -> None:
    fs, path = _fs(entry.uri)
    with fs.open(path, "rb") as src, destination.open("wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    now = _resolve_fsspec(entry.uri)
    if (entry.version and now.version != entry.version) or now.hash != entry.hash:
        if entry.hash and entry.hash.startswith("blake3:"):
            from .. import store

            if f"blake3:{store.hash_file(destination)}" == entry.hash:
                return
        raise SourceError(
            f"{entry.uri}: it changed since its version was recorded ({entry.version or entry.hash} -> "
            f"{now.version or now.hash}) and this store cannot serve the old version",
            hint="launch the run again to record the new version",
        )


# -- the two operations -------------------------------------------------------------------------------------


def resolve(uri: str, source: str = "tracked") -> DataEntry:
    """The entry of `uri` with the version it has now; never raises: a problem is the entry's state."""
    scheme = scheme_of(uri)
    try:
        check_uri(uri)
        if scheme in ("s3", "s3a"):
            entry = _resolve_s3(uri)
        elif scheme == "lakefs":
            entry = _resolve_lakefs(uri)
        else:
            entry = _resolve_fsspec(uri)
    except NbliftError as exc:
        return DataEntry(uri, KIND, source, None, None, state=ERROR, message=str(exc))
    except OSError as exc:
        return DataEntry(uri, KIND, source, None, None, state=ERROR, message=f"cannot be read: {exc}")
    return entry if entry.source == source else DataEntry(**{**entry.to_json(), "source": source})


def fetch(entry: DataEntry, destination: Path) -> int:
    """Write the recorded version of URI input `entry` to `destination`; its size. SourceError (naming the
    input) when that version cannot be had: a run never reads a silently different input."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    scheme = scheme_of(entry.uri)
    try:
        if scheme in ("s3", "s3a"):
            _fetch_s3(entry, partial)
        elif scheme == "lakefs":
            _fetch_lakefs(entry, partial)
        else:
            _fetch_fsspec(entry, partial)
        size = partial.stat().st_size
        if entry.size is not None and size != entry.size:
            raise SourceError(
                f"{entry.uri}: got {size} bytes, the recorded version has {entry.size}",
                hint="launch the run again to record the version there is now",
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return size
