"""``--validate``: is the object store usable, and if not, what exactly to fix.

Checks run in order and stop at the first failure, since every later check depends on the earlier
ones: settings present, endpoint reachable, credentials accepted, bucket exists, and a probe object
can be written, read back identically and deleted.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich.console import Console

from ai.infrastructure.s3.settings import S3ConfigError, S3Settings

PROBE_BYTES = b"dataset-pipeline S3 validation probe\n"
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_validation(console: Console | None = None, settings: S3Settings | None = None) -> int:
    """Print one line per check; 0 when all hold, 1 otherwise."""
    console = console or Console()
    checks = validate(settings)
    for check in checks:
        mark = "[green]✓[/]" if check.ok else "[bold red]✗[/]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False, soft_wrap=True)
    ready = bool(checks) and all(check.ok for check in checks)
    console.print(
        "S3 is ready." if ready else "[bold red]S3 is not ready:[/] fix the problem above and re-run."
    )
    return 0 if ready else 1


def validate(settings: S3Settings | None = None) -> list[Check]:
    """The checks that ran, in order; the last one failed if any did."""
    try:
        settings = settings or S3Settings.from_env()
    except S3ConfigError as exc:
        return [Check("settings", False, str(exc))]
    # A validation run should answer in seconds, not wait out the uploader's patient retries.
    settings = replace(settings, max_attempts=2, connect_timeout=CONNECT_TIMEOUT, read_timeout=15.0)
    checks = [Check("settings", True, f"bucket {settings.bucket}, region {settings.region}")]
    client = settings.client()
    for step in (_endpoint_reachable, _credentials_and_bucket, _probe_round_trip):
        results = step(settings, client)
        checks += results
        if not all(check.ok for check in results):
            break
    return checks


def _endpoint_reachable(settings: S3Settings, client: Any) -> list[Check]:
    endpoint = client.meta.endpoint_url
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT):
            return [Check("endpoint reachable", True, endpoint)]
    except OSError as exc:
        return [
            Check(
                "endpoint reachable",
                False,
                f"cannot connect to {endpoint} ({exc.strerror or exc}); check OVH_S3_ENDPOINT "
                "(e.g. https://s3.gra.io.cloud.ovh.net) and that this machine can reach it",
            )
        ]


def _credentials_and_bucket(settings: S3Settings, client: Any) -> list[Check]:
    try:
        client.list_objects_v2(Bucket=settings.bucket, MaxKeys=1)
    except NoCredentialsError:
        return [
            Check(
                "credentials valid",
                False,
                "no keys found: set OVH_S3_ACCESS_KEY_ID and OVH_S3_SECRET_ACCESS_KEY",
            )
        ]
    except ClientError as exc:
        return _explain_listing_error(settings, exc)
    except BotoCoreError as exc:
        return [
            Check("credentials valid", False, settings.redact(f"the endpoint did not answer properly: {exc}"))
        ]
    return [
        Check("credentials valid", True, "the endpoint accepted the keys"),
        Check("bucket exists", True, f"s3://{settings.bucket} is listable"),
    ]


def _explain_listing_error(settings: S3Settings, exc: ClientError) -> list[Check]:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    fixes = {
        "InvalidAccessKeyId": "the endpoint does not know this access key: check OVH_S3_ACCESS_KEY_ID",
        "SignatureDoesNotMatch": "the secret key does not match the access key: check OVH_S3_SECRET_ACCESS_KEY "
        f"and that OVH_S3_REGION ({settings.region}) is the bucket's region",
        "AuthorizationHeaderMalformed": f"the region {settings.region} is wrong for this endpoint: fix OVH_S3_REGION",
    }
    if code in fixes:
        return [Check("credentials valid", False, fixes[code])]
    accepted = Check("credentials valid", True, "the endpoint accepted the keys")
    if code in ("NoSuchBucket", "404"):
        return [
            accepted,
            Check(
                "bucket exists",
                False,
                f"bucket {settings.bucket} does not exist at this endpoint: create it or fix OVH_S3_BUCKET",
            ),
        ]
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return [
            accepted,
            Check(
                "bucket exists",
                False,
                f"access to bucket {settings.bucket} is denied: give these keys read/write on it",
            ),
        ]
    return [Check("credentials valid", False, settings.redact(f"unexpected answer from the endpoint: {exc}"))]


def _probe_round_trip(settings: S3Settings, client: Any) -> list[Check]:
    key = settings.key(".validate", f"probe-{uuid.uuid4().hex}")
    steps: list[tuple[str, Callable[[], str]]] = [
        ("put probe object", lambda: _put(client, settings.bucket, key)),
        ("get probe object", lambda: _get(client, settings.bucket, key)),
        ("delete probe object", lambda: _delete(client, settings.bucket, key)),
    ]
    checks = []
    for name, step in steps:
        try:
            checks.append(Check(name, True, step()))
        except (ClientError, BotoCoreError, ValueError) as exc:
            checks.append(
                Check(name, False, settings.redact(f"{exc}; give these keys read/write/delete on the bucket"))
            )
            break
    return checks


def _put(client: Any, bucket: str, key: str) -> str:
    client.put_object(Bucket=bucket, Key=key, Body=PROBE_BYTES)
    return f"s3://{bucket}/{key}"


def _get(client: Any, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    if body != PROBE_BYTES:
        raise ValueError(f"read back {len(body)} bytes that differ from the {len(PROBE_BYTES)} written")
    return "read back identical"


def _delete(client: Any, bucket: str, key: str) -> str:
    client.delete_object(Bucket=bucket, Key=key)
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return "deleted"
        raise
    raise ValueError("the probe object is still there after delete")
