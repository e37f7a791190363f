"""Where the object store is and how to talk to it, read from the environment only.

OVH variables come first (``OVH_S3_ENDPOINT``, ``OVH_S3_BUCKET``, ``OVH_S3_REGION``,
``OVH_S3_ACCESS_KEY_ID``, ``OVH_S3_SECRET_ACCESS_KEY``); the standard AWS variables and boto3's own
credential chain are the fallback. Keys are kept out of ``repr`` and every message built from an error
goes through ``redact`` so a key never reaches a log line or an exception.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

DEFAULT_PREFIX = "datasets"
MIB = 1024 * 1024
# OVH endpoints look like https://s3.gra.io.cloud.ovh.net; their region is the second label.
_OVH_REGION = re.compile(r"^s3\.([a-z0-9-]+)\.(?:io\.|perf\.)?cloud\.ovh\.(?:net|us)$")


class S3ConfigError(ValueError):
    """The S3 settings are missing or wrong; the message names the variable to fix."""


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    addressing_style: str = "path"
    # botocore's attempts per request, the first included (retries connection errors, 5xx, throttling).
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    multipart_threshold: int = 64 * MIB
    multipart_chunksize: int = 16 * MIB
    max_concurrency: int = 4
    # "read": re-read every uploaded object and hash it; "head": trust size + sha256 metadata (half the
    # traffic, but does not prove the stored bytes).
    verify: str = "read"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> S3Settings:
        env = os.environ if env is None else env
        bucket = _first(env, "OVH_S3_BUCKET", "S3_BUCKET")
        if not bucket:
            raise S3ConfigError(
                "no bucket configured: set OVH_S3_BUCKET to the bucket that holds the packages"
            )
        endpoint = _endpoint(_first(env, "OVH_S3_ENDPOINT"))
        region = (
            _first(env, "OVH_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
            or _region_from_endpoint(endpoint)
            or "us-east-1"
        )
        settings = cls(
            bucket=bucket,
            endpoint_url=endpoint,
            region=region,
            access_key_id=_first(env, "OVH_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            secret_access_key=_first(env, "OVH_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
            prefix=(_first(env, "OVH_S3_PREFIX") or DEFAULT_PREFIX).strip("/"),
            addressing_style=_first(env, "OVH_S3_ADDRESSING_STYLE") or "path",
            verify=_first(env, "OVH_S3_VERIFY") or "read",
        )
        if settings.verify not in ("read", "head"):
            raise S3ConfigError(f"OVH_S3_VERIFY must be 'read' or 'head', not {settings.verify!r}")
        if bool(settings.access_key_id) != bool(settings.secret_access_key):
            raise S3ConfigError(
                "only half of the S3 key pair is set: set both OVH_S3_ACCESS_KEY_ID and OVH_S3_SECRET_ACCESS_KEY"
            )
        return replace(settings, **overrides)

    def client(self) -> Any:
        """A boto3 S3 client with standard-mode retries and timeouts."""
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )
        config = Config(
            region_name=self.region,
            signature_version="s3v4",
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            s3={"addressing_style": self.addressing_style},
            # Many S3-compatible stores (OVH among them) reject the CRC checksums newer botocore sends
            # by default; integrity is checked end to end with our own sha256 instead.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def transfer_config(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            use_threads=self.max_concurrency > 1,
        )

    def redact(self, text: str) -> str:
        """``text`` with every key of these settings replaced by ``***``."""
        for secret in (self.secret_access_key, self.access_key_id, *_env_secrets()):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def key(self, *parts: str) -> str:
        return "/".join(part.strip("/") for part in (self.prefix, *parts) if part)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"


def _env_secrets() -> tuple[str, ...]:
    # Keys boto3 may have picked up itself (AWS variables) are redacted too.
    names = ("OVH_S3_ACCESS_KEY_ID", "OVH_S3_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    return tuple(os.environ.get(name, "") for name in names)


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _endpoint(value: str | None) -> str | None:
    if not value:
        return None
    return value if "://" in value else f"https://{value}"


def _region_from_endpoint(endpoint: str | None) -> str | None:
    if not endpoint:
        return None
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    match = _OVH_REGION.match(host)
    return match.group(1) if match else None
