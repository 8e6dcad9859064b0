"""Where uploaded and staged files live: content-addressed blobs behind one small interface.

A blob's name is the SHA-256 of its bytes, so the same file uploaded twice is stored once, and a stored
blob is never overwritten (a second ``put`` of the same bytes finds it there). Two backends:

- ``LocalStorage`` (the default): ``IPM_STORAGE_DIR/ab/cd/<sha256>``, written to a temporary file and
  moved into place, so a reader never sees half a file.
- ``S3Storage`` when ``IPM_STORAGE_URL=s3://bucket/prefix``: any S3-compatible store (boto3; the endpoint
  from ``IPM_STORAGE_S3_ENDPOINT`` or the usual ``AWS_*`` variables).

The calls are blocking; the async wrappers run them in a thread. Never call them inside a database
transaction when the backend is remote: read or write the blob first, then open the transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from kernel.errors import NotFound
from kernel.settings import Settings, get_settings


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_name(sha: str) -> str:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise NotFound("stored file not found")
    return sha


class Storage(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and answer its SHA-256."""

    def get(self, sha: str) -> bytes:
        """The bytes stored under ``sha``; NotFound when there are none."""

    def exists(self, sha: str) -> bool: ...


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha: str) -> Path:
        sha = _check_name(sha)
        return self.root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes) -> str:
        sha = sha256_of(data)
        path = self._path(sha)
        if path.exists():
            return sha  # content-addressed: the same bytes are there already, never rewritten
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha: str) -> bytes:
        try:
            return self._path(sha).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("stored file not found") from exc

    def exists(self, sha: str) -> bool:
        return self._path(sha).exists()


class S3Storage:
    """Blobs as ``<prefix>/ab/<sha256>`` objects in one bucket."""

    def __init__(self, url: str, endpoint_url: str | None = None, client: Any = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError("IPM_STORAGE_URL must look like s3://bucket/prefix")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if client is None:
            import boto3  # only when S3 is configured

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client

    def _key(self, sha: str) -> str:
        sha = _check_name(sha)
        return "/".join(p for p in (self.prefix, sha[:2], sha) if p)

    def exists(self, sha: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put(self, data: bytes) -> str:
        sha = sha256_of(data)
        if not self.exists(sha):
            self.client.put_object(Bucket=self.bucket, Key=self._key(sha), Body=data,
                                   ChecksumAlgorithm="SHA256")
        return sha

    def get(self, sha: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(sha))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFound("stored file not found") from exc
            raise
        return body


def make_storage(settings: Settings) -> Storage:
    if settings.storage_url:
        return S3Storage(settings.storage_url, settings.storage_s3_endpoint)
    return LocalStorage(settings.storage_dir)


@lru_cache
def _default() -> Storage:
    return make_storage(get_settings())


_override: list[Storage] = []


def storage() -> Storage:
    """The configured storage (tests may ``use`` another)."""
    return _override[-1] if _override else _default()


class use:
    """``with storage.use(backend): ...`` — route every call to ``backend`` meanwhile (tests)."""

    def __init__(self, backend: Storage) -> None:
        self.backend = backend

    def __enter__(self) -> Storage:
        _override.append(self.backend)
        return self.backend

    def __exit__(self, *exc: object) -> None:
        _override.remove(self.backend)


async def put(data: bytes) -> str:
    return await asyncio.to_thread(storage().put, data)


async def get(sha: str) -> bytes:
    return await asyncio.to_thread(storage().get, sha)


async def put_json(value: Any) -> str:
    return await put(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


async def get_json(sha: str) -> Any:
    return json.loads(await get(sha))
