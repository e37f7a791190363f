"""Ship ready packages to S3 (OVH or any S3-compatible store) and bring them back, verified.

A package is a run directory with ``manifest.json`` (``{"run_id": ..., "files": {relpath: sha256}}``).
In the bucket it lives under ``<prefix>/<run_id>/``; every object carries its sha256 in its metadata.

The manifest is the completion marker: it is uploaded last, after every file has been uploaded and
verified, and deleted first when a package is replaced or removed. A package without a manifest is
therefore never taken for a complete one, whatever point an upload or delete was interrupted at.
Uploads and downloads resume: files already present with the right checksum are not transferred again.

Retries: botocore retries each request (standard mode), and each whole file transfer is retried with
exponential backoff on top, because a multipart upload that loses a part is aborted as a whole.

    python -m ai.infrastructure.s3.s3_dataset_loader --validate
    python -m ai.infrastructure.s3.s3_dataset_loader upload RUN_DIR | download RUN_ID DEST | list | delete RUN_ID
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai.core.atomic import atomic_write_bytes, commit_file
from ai.core.paths import ManifestNameError, check_manifest_name
from ai.infrastructure.database import Catalog, CatalogError
from ai.infrastructure.s3.settings import S3ConfigError, S3Settings
from ai.infrastructure.s3.validation import run_validation

MANIFEST = "manifest.json"
SHA256_META = "sha256"
HASH_BLOCK = 1024 * 1024
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Error codes that no retry can fix: wrong keys, missing bucket, no permission.
_PERMANENT_CODES = (
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "InvalidBucketName",
    "AllAccessDisabled",
    "InvalidArgument",
)
T = TypeVar("T")

__all__ = [
    "PackageVersion",
    "RetryPolicy",
    "S3ConfigError",
    "S3PackageError",
    "S3Store",
    "S3TransferError",
    "delete_command",
    "delete_package",
    "download_command",
    "download_package",
    "format_versions_table",
    "list_command",
    "list_versions",
    "main",
    "upload_command",
    "upload_package",
]


class S3PackageError(RuntimeError):
    """A package is missing, incomplete, or does not match its manifest."""


class S3TransferError(RuntimeError):
    """A transfer still failed after every retry; the message says what failed and why."""


class _ChecksumMismatch(Exception):
    """A transferred file's sha256 differs from the one expected; the transfer is retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """Whole-transfer retries on top of botocore's per-request retries."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int) -> float:
        # Full jitter keeps parallel uploaders from retrying in lockstep.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # nosec B311: jitter, not crypto


@dataclass(frozen=True)
class PackageVersion:
    run_id: str
    uri: str
    complete: bool
    objects: int
    bytes: int
    uploaded_at: datetime | None
    version: str = ""
    config_hash: str = ""


@dataclass(frozen=True)
class _PackageFile:
    relpath: str
    sha256: str


# -- module-level entry points for the CLI ----------------------------------------------------------


def upload_package(
    run_dir: str | Path,
    prefix: str | None = None,
    catalog: Catalog | None = None,
    *,
    overwrite: bool = False,
    store: S3Store | None = None,
) -> dict[str, Any]:
    """Upload the ready package in ``run_dir``; see ``S3Store.upload_package``."""
    return _store(store, prefix).upload_package(run_dir, catalog=catalog, overwrite=overwrite)


def download_package(
    run_id: str,
    dest: str | Path,
    catalog: Catalog | None = None,
    *,
    prefix: str | None = None,
    store: S3Store | None = None,
) -> dict[str, Any]:
    """Download and verify package ``run_id`` into ``dest``; see ``S3Store.download_package``."""
    return _store(store, prefix).download_package(run_id, dest, catalog=catalog)


def list_versions(prefix: str | None = None, *, store: S3Store | None = None) -> list[PackageVersion]:
    """Every package under the prefix, complete or not, newest first."""
    return _store(store, prefix).list_versions()


def delete_package(
    run_id: str,
    catalog: Catalog | None = None,
    *,
    prefix: str | None = None,
    store: S3Store | None = None,
) -> dict[str, Any]:
    """Delete package ``run_id`` (manifest first) and write an audit entry."""
    return _store(store, prefix).delete_package(run_id, catalog=catalog)


def format_versions_table(versions: list[PackageVersion]) -> Table:
    table = Table(title="Packages in the object store", header_style="bold")
    for column in ("Run", "State", "Version", "Objects", "Size", "Uploaded (UTC)", "URI"):
        table.add_column(column, overflow="fold")
    for version in versions:
        table.add_row(
            escape(version.run_id),
            "[green]complete[/]" if version.complete else "[yellow]incomplete[/]",
            escape(version.version),
            str(version.objects),
            _human_bytes(version.bytes),
            version.uploaded_at.strftime("%Y-%m-%d %H:%M:%S") if version.uploaded_at else "-",
            escape(version.uri),
        )
    return table


def _store(store: S3Store | None, prefix: str | None) -> S3Store:
    store = store or S3Store(S3Settings.from_env())
    return store.with_prefix(prefix) if prefix is not None else store


# -- the store --------------------------------------------------------------------------------------


class S3Store:
    """Package operations against one bucket and prefix."""

    def __init__(self, settings: S3Settings, retry: RetryPolicy | None = None, client: Any = None) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.client = client or settings.client()
        self._transfer = settings.transfer_config()

    def with_prefix(self, prefix: str) -> S3Store:
        return S3Store(replace(self.settings, prefix=prefix.strip("/")), self.retry, self.client)

    # -- upload --------------------------------------------------------------------------------

    def upload_package(
        self, run_dir: str | Path, *, catalog: Catalog | None = None, overwrite: bool = False
    ) -> dict[str, Any]:
        """Upload every file the manifest lists, verify each, then the manifest.

        Refuses a package whose local files do not match its manifest, and a run id that already
        has a different complete package unless ``overwrite``. Returns a summary dict.
        """
        run_dir = Path(run_dir)
        manifest_bytes, run_id, files = _read_local_manifest(run_dir)
        sizes = _check_local_files(run_dir, files)
        manifest_key = self.settings.key(run_id, MANIFEST)
        remote_manifest = self._get_bytes_or_none(manifest_key)
        if remote_manifest is not None and remote_manifest != manifest_bytes:
            if not overwrite:
                raise S3PackageError(
                    f"{self.settings.uri(run_id)} already holds a different package for run {run_id}; "
                    "pass overwrite=True (--overwrite) to replace it"
                )
            # Withdraw the completion marker before touching any file of the old package.
            self._call(lambda: self.client.delete_object(Bucket=self.settings.bucket, Key=manifest_key))

        uploaded, skipped = [], []
        for item in files:
            key = self.settings.key(run_id, item.relpath)
            if self._has_verified_object(key, item.sha256, sizes[item.relpath]):
                skipped.append(item.relpath)
                continue
            self._upload_file(run_dir / item.relpath, key, item.sha256, sizes[item.relpath])
            uploaded.append(item.relpath)
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        if remote_manifest != manifest_bytes:
            self._upload_file(run_dir / MANIFEST, manifest_key, manifest_sha, len(manifest_bytes))

        summary = {
            "run_id": run_id,
            "uri": self.settings.uri(run_id) + "/",
            "files": len(files),
            "bytes": sum(sizes.values()) + len(manifest_bytes),
            "uploaded": len(uploaded),
            "skipped": len(skipped),
            "manifest_sha256": manifest_sha,
        }
        if catalog is not None:
            artifacts = [
                {"uri": self.settings.uri(run_id, f.relpath), "sha256": f.sha256, "size": sizes[f.relpath]}
                for f in files
            ] + [
                {
                    "uri": self.settings.uri(run_id, MANIFEST),
                    "sha256": manifest_sha,
                    "size": len(manifest_bytes),
                }
            ]
            _record(catalog, "upload", run_id, summary, [{**a, "kind": "s3"} for a in artifacts])
        return summary

    def _upload_file(self, path: Path, key: str, sha256: str, size: int) -> None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        extra = {"Metadata": {SHA256_META: sha256}, "ContentType": content_type}

        def attempt() -> None:
            self.client.upload_file(
                str(path), self.settings.bucket, key, ExtraArgs=extra, Config=self._transfer
            )
            self._verify_object(key, sha256, size)

        self._retrying(f"upload of {path.name} to {self.settings.bucket}/{key}", attempt)

    def _verify_object(self, key: str, sha256: str, size: int) -> None:
        """HEAD the object, then (``verify="read"``) read it back and hash it: proves the bytes stored
        are the bytes we meant to store."""
        head = self.client.head_object(Bucket=self.settings.bucket, Key=key)
        if head.get("Metadata", {}).get(SHA256_META) != sha256 or head["ContentLength"] != size:
            raise _ChecksumMismatch(f"{key}: stored size/metadata differ from the local file")
        if self.settings.verify == "head":
            return
        body = self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        for block in iter(lambda: body.read(HASH_BLOCK), b""):
            digest.update(block)
        if digest.hexdigest() != sha256:
            raise _ChecksumMismatch(f"{key}: stored bytes hash to {digest.hexdigest()}, expected {sha256}")

    def _has_verified_object(self, key: str, sha256: str, size: int) -> bool:
        head = self._head_or_none(key)
        return (
            bool(head)
            and head.get("Metadata", {}).get(SHA256_META) == sha256
            and head["ContentLength"] == size
        )

    # -- download ------------------------------------------------------------------------------

    def download_package(
        self, run_id: str, dest: str | Path, *, catalog: Catalog | None = None
    ) -> dict[str, Any]:
        """Download a complete package into ``dest``, checking every file against the manifest.

        Each file lands under a ``.part`` name and is renamed only once its sha256 matches; the
        manifest is written last. Files already in ``dest`` with the right checksum are kept.
        """
        _check_run_id(run_id)
        manifest_bytes = self._get_bytes_or_none(self.settings.key(run_id, MANIFEST))
        if manifest_bytes is None:
            raise S3PackageError(self._missing_manifest_message(run_id))
        manifest_run_id, files = _parse_manifest(manifest_bytes, f"{self.settings.uri(run_id, MANIFEST)}")
        if manifest_run_id != run_id:
            raise S3PackageError(
                f"{self.settings.uri(run_id, MANIFEST)} describes run {manifest_run_id}, not {run_id}"
            )
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        downloaded, kept, total = 0, 0, 0
        for item in files:
            target = dest / item.relpath
            if target.is_file() and _sha256_file(target) == item.sha256:
                kept += 1
            else:
                self._download_file(self.settings.key(run_id, item.relpath), target, item.sha256)
                downloaded += 1
            total += target.stat().st_size
        atomic_write_bytes(dest / MANIFEST, manifest_bytes)
        summary = {
            "run_id": run_id,
            "uri": self.settings.uri(run_id) + "/",
            "dest": str(dest),
            "files": len(files),
            "bytes": total + len(manifest_bytes),
            "downloaded": downloaded,
            "kept": kept,
        }
        if catalog is not None:
            catalog.audit("download", run_id=run_id, details=summary)
        return summary

    def _download_file(self, key: str, target: Path, sha256: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")

        def attempt() -> None:
            try:
                self.client.download_file(self.settings.bucket, key, str(partial), Config=self._transfer)
                actual = _sha256_file(partial)
                if actual != sha256:
                    raise _ChecksumMismatch(
                        f"{key}: downloaded bytes hash to {actual}, manifest says {sha256}"
                    )
                commit_file(partial, target)
            finally:
                partial.unlink(missing_ok=True)

        self._retrying(f"download of {self.settings.bucket}/{key}", attempt)

    def _missing_manifest_message(self, run_id: str) -> str:
        listing = self._call(
            lambda: self.client.list_objects_v2(
                Bucket=self.settings.bucket, Prefix=self.settings.key(run_id) + "/", MaxKeys=1
            )
        )
        if listing.get("KeyCount", 0):
            return (
                f"package {run_id} at {self.settings.uri(run_id)}/ is incomplete (no {MANIFEST}): "
                "its upload was interrupted; upload it again to finish it"
            )
        return f"no package for run {run_id} at {self.settings.uri(run_id)}/"

    # -- listing and deletion ------------------------------------------------------------------

    def list_versions(self) -> list[PackageVersion]:
        versions = [self._describe(run_id) for run_id in self._run_ids()]
        # Incomplete packages (no upload time) sort last.
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(versions, key=lambda v: (v.uploaded_at or oldest, v.run_id), reverse=True)

    def delete_package(self, run_id: str, *, catalog: Catalog | None = None) -> dict[str, Any]:
        """Delete the manifest first (the package stops looking complete), then everything else,
        including parts of interrupted multipart uploads."""
        _check_run_id(run_id)
        bucket, run_prefix = self.settings.bucket, self.settings.key(run_id) + "/"
        keys = [obj["Key"] for obj in self._objects(run_prefix)]
        aborted = self._abort_multipart_uploads(run_prefix)
        if not keys and not aborted:
            raise S3PackageError(f"no package for run {run_id} at {self.settings.uri(run_id)}/")
        manifest_key = self.settings.key(run_id, MANIFEST)
        had_manifest = manifest_key in keys
        if had_manifest:
            self._call(lambda: self.client.delete_object(Bucket=bucket, Key=manifest_key))
            keys.remove(manifest_key)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = self._call(
                lambda batch=batch: self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise S3TransferError(
                    f"could not delete {len(response['Errors'])} objects of {run_id}, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
        summary = {
            "run_id": run_id,
            "uri": self.settings.uri(run_id) + "/",
            "objects_deleted": len(keys) + int(had_manifest),
            "had_manifest": had_manifest,
            "multipart_uploads_aborted": aborted,
        }
        if catalog is not None:
            catalog.audit("delete", run_id=run_id, details=summary)
        return summary

    def _run_ids(self) -> list[str]:
        prefix = self.settings.key("") + "/" if self.settings.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        run_ids = []
        pages = paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix, Delimiter="/")
        for page in self._call(lambda: list(pages)):
            run_ids += [
                entry["Prefix"][len(prefix) :].rstrip("/") for entry in page.get("CommonPrefixes", [])
            ]
        return run_ids

    def _describe(self, run_id: str) -> PackageVersion:
        objects = list(self._objects(self.settings.key(run_id) + "/"))
        manifest_key = self.settings.key(run_id, MANIFEST)
        manifest_obj = next((obj for obj in objects if obj["Key"] == manifest_key), None)
        version = config_hash = ""
        if manifest_obj is not None:
            manifest = json.loads(self._get_bytes_or_none(manifest_key) or b"{}")
            version, config_hash = str(manifest.get("version", "")), str(manifest.get("config_hash", ""))
        return PackageVersion(
            run_id=run_id,
            uri=self.settings.uri(run_id) + "/",
            complete=manifest_obj is not None,
            objects=len(objects),
            bytes=sum(obj["Size"] for obj in objects),
            uploaded_at=manifest_obj["LastModified"] if manifest_obj else None,
            version=version,
            config_hash=config_hash,
        )

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(lambda: list(paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix)))
        for page in pages:
            yield from page.get("Contents", [])

    def _abort_multipart_uploads(self, prefix: str) -> int:
        listing = self._call(
            lambda: self.client.list_multipart_uploads(Bucket=self.settings.bucket, Prefix=prefix)
        )
        uploads = listing.get("Uploads", [])
        for upload in uploads:
            self._call(
                lambda upload=upload: self.client.abort_multipart_upload(
                    Bucket=self.settings.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            )
        return len(uploads)

    # -- request helpers -----------------------------------------------------------------------

    def _head_or_none(self, key: str) -> dict[str, Any] | None:
        try:
            return self._call(lambda: self.client.head_object(Bucket=self.settings.bucket, Key=key))
        except _NotFound:
            return None

    def _get_bytes_or_none(self, key: str) -> bytes | None:
        try:
            return self._call(
                lambda: self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
            )
        except _NotFound:
            return None

    def _call(self, request: Callable[[], T]) -> T:
        """One S3 request. botocore already retries single requests, so no second layer here: that
        would multiply the wait on an endpoint that is down for good."""
        return self._retrying("S3 request", request, attempts=1)

    def _retrying(self, what: str, operation: Callable[[], T], attempts: int | None = None) -> T:
        """Run ``operation`` with backoff between attempts. 404s come out as ``_NotFound``, errors no
        retry can fix at once, and every message is redacted."""
        attempts = attempts or self.retry.attempts
        last: BaseException | None = None
        for attempt in range(attempts):
            try:
                return operation()
            except ClientError as exc:
                if _error_code(exc) == "NoSuchBucket":
                    raise S3TransferError(
                        f"bucket {self.settings.bucket} does not exist at {self.client.meta.endpoint_url}: "
                        "create it or fix OVH_S3_BUCKET"
                    ) from None
                if _is_not_found(exc):
                    raise _NotFound(str(exc)) from None
                if _error_code(exc) in _PERMANENT_CODES:
                    raise S3TransferError(self._explain(what, exc)) from None
                last = exc
            except (S3UploadFailedError, S3TransferFailedError) as exc:
                if any(code in str(exc) for code in _PERMANENT_CODES):
                    raise S3TransferError(self._explain(what, exc)) from None
                last = exc
            except NoCredentialsError:
                raise S3ConfigError(
                    "no S3 credentials found: set OVH_S3_ACCESS_KEY_ID and OVH_S3_SECRET_ACCESS_KEY"
                ) from None
            except (BotoCoreError, _ChecksumMismatch, OSError) as exc:
                if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
                    raise
                last = exc
            if attempt + 1 < attempts:
                time.sleep(self.retry.delay(attempt))
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise S3TransferError(self._explain(f"{what} failed{tries}", last)) from None

    def _explain(self, what: str, exc: BaseException | None) -> str:
        return self.settings.redact(f"{what}: {type(exc).__name__}: {exc}")


class _NotFound(Exception):
    """The object or bucket asked for does not exist (HTTP 404)."""


# -- local package helpers ----------------------------------------------------------------------------


def _read_local_manifest(run_dir: Path) -> tuple[bytes, str, list[_PackageFile]]:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise S3PackageError(f"{run_dir} is not a ready package: it has no {MANIFEST}")
    data = path.read_bytes()
    run_id, files = _parse_manifest(data, str(path))
    return data, run_id, files


def _parse_manifest(data: bytes, where: str) -> tuple[str, list[_PackageFile]]:
    """Accepts ``files`` as ``{relpath: sha256}`` or ``{relpath: {"sha256": ...}}``."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise S3PackageError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise S3PackageError(f"{where} needs a 'files' object mapping relative paths to sha256 digests")
    run_id = str(manifest.get("run_id", ""))
    _check_run_id(run_id, where)
    files = []
    for relpath, entry in sorted(manifest["files"].items()):
        sha256 = entry.get("sha256") if isinstance(entry, dict) else entry
        if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
            raise S3PackageError(f"{where}: file {relpath!r} has no valid sha256")
        files.append(_PackageFile(_safe_relpath(relpath, where), sha256.lower()))
    return run_id, files


def _check_local_files(run_dir: Path, files: list[_PackageFile]) -> dict[str, int]:
    """Sizes of the package files, after checking each against its manifest checksum."""
    sizes = {}
    for item in files:
        path = run_dir / item.relpath
        if not path.is_file():
            raise S3PackageError(f"{path} is listed in the manifest but missing; re-export the package")
        actual = _sha256_file(path)
        if actual != item.sha256:
            raise S3PackageError(
                f"{path} does not match its manifest checksum (sha256 {actual}, manifest {item.sha256}); "
                "re-export the package"
            )
        sizes[item.relpath] = path.stat().st_size
    return sizes


def _check_run_id(run_id: str, where: str = "") -> None:
    if not _RUN_ID.match(run_id):
        context = f"{where}: " if where else ""
        raise S3PackageError(f"{context}run id {run_id!r} must be letters, digits, '.', '_' or '-'")


def _safe_relpath(relpath: str, where: str) -> str:
    """Manifest paths come from a remote object too: refuse anything that could escape the package."""
    if relpath == MANIFEST:
        raise S3PackageError(f"{where}: the manifest may not list itself")
    try:
        return check_manifest_name(relpath)
    except ManifestNameError as exc:
        raise S3PackageError(f"{where}: {exc}; a file name must be relative, inside the package") from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(
    catalog: Catalog, action: str, run_id: str, summary: dict[str, Any], artifacts: list[dict]
) -> None:
    """Artifacts go on the run when the catalog knows it; the audit entry is written either way."""
    if catalog.get_run(run_id) is not None:
        catalog.add_artifacts(run_id, artifacts, action=action, details=summary)
    else:
        catalog.audit(action, run_id=run_id, details=summary)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or _error_code(exc) in ("404", "NoSuchKey", "NotFound")


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# -- command line -------------------------------------------------------------------------------------


# Errors a command reports as one line and exit code 1: settings, package contents, transfers, catalog.
COMMAND_ERRORS = (S3ConfigError, S3PackageError, S3TransferError, CatalogError)


def upload_command(
    run_dir: str | Path, prefix: str | None = None, *, overwrite: bool = False, use_catalog: bool = True
) -> str:
    """``upload``: the package goes up, audited in the default catalog; returns the line to print."""
    store = S3Store(S3Settings.from_env())
    with _open_catalog(not use_catalog) as catalog:
        result = upload_package(run_dir, prefix, catalog, overwrite=overwrite, store=store)
    return f"uploaded {result['uploaded']} files, kept {result['skipped']} already there: {result['uri']}"


def download_command(
    run_id: str, dest: str | Path, prefix: str | None = None, *, use_catalog: bool = True
) -> str:
    store = S3Store(S3Settings.from_env())
    with _open_catalog(not use_catalog) as catalog:
        result = download_package(run_id, dest, catalog, prefix=prefix, store=store)
    return f"downloaded {result['downloaded']} files, kept {result['kept']}, all verified: {result['dest']}"


def list_command(prefix: str | None = None) -> Table:
    return format_versions_table(list_versions(prefix, store=S3Store(S3Settings.from_env())))


def delete_command(run_id: str, prefix: str | None = None, *, use_catalog: bool = True) -> str:
    store = S3Store(S3Settings.from_env())
    with _open_catalog(not use_catalog) as catalog:
        result = delete_package(run_id, catalog, prefix=prefix, store=store)
    return f"deleted {result['objects_deleted']} objects under {result['uri']}"


def report_command_error(exc: BaseException, console: Console) -> int:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return 1


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """``python -m ai.infrastructure.s3.s3_dataset_loader``; ``dataset-pipeline`` calls the same commands."""
    console = console or Console()
    args = _parser().parse_args(argv)
    try:
        if args.validate:
            return run_validation(console)
        if args.command is None:
            _parser().print_help()
            return 2
        console.print(_run_command(args))
    except COMMAND_ERRORS as exc:
        return report_command_error(exc, console)
    return 0


def _run_command(args: argparse.Namespace) -> str | Table:
    use_catalog = not args.no_catalog
    if args.command == "list":
        return list_command(args.prefix)
    if args.command == "upload":
        return upload_command(args.run_dir, args.prefix, overwrite=args.overwrite, use_catalog=use_catalog)
    if args.command == "download":
        return download_command(args.run_id, args.dest, args.prefix, use_catalog=use_catalog)
    return delete_command(args.run_id, args.prefix, use_catalog=use_catalog)


@contextmanager
def _open_catalog(skip: bool) -> Iterator[Catalog | None]:
    """The default catalog (``DATABASE_URL`` or the workspace SQLite file), so transfers are audited."""
    if skip:
        yield None
        return
    with Catalog.open() as catalog:
        yield catalog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ai.infrastructure.s3.s3_dataset_loader",
        description="Upload, download, list and delete ready packages in S3 (settings from OVH_S3_* env).",
    )
    parser.add_argument(
        "--validate", action="store_true", help="check endpoint, credentials, bucket, put/get/delete"
    )
    parser.add_argument("--prefix", default=None, help="key prefix (default OVH_S3_PREFIX or 'datasets')")
    parser.add_argument(
        "--no-catalog", action="store_true", help="do not record the transfer in the run catalog"
    )
    commands = parser.add_subparsers(dest="command")
    upload = commands.add_parser("upload", help="upload a ready package directory")
    upload.add_argument("run_dir")
    upload.add_argument("--overwrite", action="store_true")
    download = commands.add_parser("download", help="download and verify a package")
    download.add_argument("run_id")
    download.add_argument("dest")
    commands.add_parser("list", help="list packages")
    delete = commands.add_parser("delete", help="delete a package")
    delete.add_argument("run_id")
    return parser


if __name__ == "__main__":
    sys.exit(main())
