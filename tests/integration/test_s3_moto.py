"""Ready packages against moto's real S3 server over HTTP, with and without injected network faults.

A loopback proxy sits between boto3 and moto for the fault tests: it forwards every request and, when
told to, answers one with a 500 or resets the connection after reading the request body.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from rich.console import Console

from ai.infrastructure.database import Catalog
from ai.infrastructure.s3.s3_dataset_loader import (
    RetryPolicy,
    S3PackageError,
    S3Store,
    S3TransferError,
    delete_package,
    download_package,
    format_versions_table,
    list_versions,
    main,
    upload_package,
)
from ai.infrastructure.s3.settings import MIB, S3ConfigError, S3Settings
from ai.infrastructure.s3.validation import validate

ACCESS_KEY = "AKIATESTKEY0000SECRETID"
SECRET_KEY = "sEcReT/test+key/never-printed-0123456789"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
REPO_ROOT = Path(__file__).resolve().parents[2]


# -- moto server, fault proxy and packages -------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_endpoint) -> str:
    name = f"packages-{uuid.uuid4().hex[:10]}"
    _raw_client(moto_endpoint).create_bucket(Bucket=name)
    return name


def _raw_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def _settings(endpoint: str, bucket: str, **overrides) -> S3Settings:
    base = S3Settings(
        bucket=bucket,
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        max_attempts=4,
        multipart_threshold=5 * MIB,
        multipart_chunksize=5 * MIB,
        max_concurrency=2,
    )
    return S3Settings(**{**base.__dict__, **overrides})


@dataclass
class Fault:
    """Fail the ``nth`` (1-based) request matching ``method`` and ``query_has``, ``times`` in a row."""

    method: str
    query_has: str
    mode: str  # "reset", or an HTTP status with an optional S3 error code: "500", "403:AccessDenied"
    nth: int = 1
    times: int = 1
    path_has: str = ""
    seen: int = 0
    fired: int = 0


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_fail(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.method == method and fault.query_has in path and fault.path_has in path:
                    fault.seen += 1
                    if fault.seen >= fault.nth and fault.fired < fault.times:
                        fault.fired += 1
                        return fault
        return None


def _proxy_handler(proxy: FaultProxy):
    hop_by_hop = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            return

        def _forward(self) -> None:
            assert "chunked" not in self.headers.get("Transfer-Encoding", ""), "proxy expects sized bodies"
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            fault = proxy.should_fail(self.command, self.path)
            if fault is not None and fault.mode == "reset":
                # SO_LINGER 0 makes close() send a TCP RST: the client sees "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if fault is not None:
                status, _, code = fault.mode.partition(":")
                code = code or "InternalError"
                payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(int(status))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in hop_by_hop:
                    upstream.putheader(name, value)
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in hop_by_hop | {"content-length", "server", "date"}:
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(payload))
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            upstream.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@pytest.fixture
def fault_proxy(moto_endpoint):
    host, port = moto_endpoint.removeprefix("http://").split(":")
    proxy = FaultProxy(upstream=(host, int(port)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield proxy
    server.shutdown()
    server.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_package(root: Path, run_id: str, big_bytes: int = 11 * MIB) -> Path:
    """A ready package: two small files, one nested, and one large enough for a 3-part upload."""
    run_dir = root / run_id
    contents = {
        "train.jsonl": b'{"messages": []}\n' * 50,
        "reports/gate_report.json": json.dumps({"passed": 10}).encode(),
        "data/big.parquet": os.urandom(big_bytes),
    }
    for relpath, data in contents.items():
        (run_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / relpath).write_bytes(data)
    manifest = {
        "run_id": run_id,
        "config_hash": "cfg123",
        "version": "2026.11.25",
        "counts": {"train": 50},
        "files": {relpath: _sha(data) for relpath, data in sorted(contents.items())},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run_dir


def _same_tree(left: Path, right: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return files(left) == files(right)


# -- round trip --------------------------------------------------------------------------------------


def test_upload_verifies_and_download_restores_the_package_byte_for_byte(moto_endpoint, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-a")
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    with Catalog.open() as catalog:
        catalog.start_run("run-a", "demo", "cfg123", str(run_dir))
        result = upload_package(run_dir, catalog=catalog, store=store)
        assert result["files"] == 3 and result["uploaded"] == 3 and result["skipped"] == 0
        assert result["uri"] == f"s3://{bucket}/datasets/run-a/"

        raw = _raw_client(moto_endpoint)
        head = raw.head_object(Bucket=bucket, Key="datasets/run-a/data/big.parquet")
        assert head["Metadata"]["sha256"] == _sha((run_dir / "data/big.parquet").read_bytes())
        assert head["ETag"].strip('"').endswith("-3")  # three multipart parts of 5 MiB

        download = download_package("run-a", tmp_path / "restored", catalog=catalog, store=store)
        assert download["downloaded"] == 3
        assert _same_tree(run_dir, tmp_path / "restored")

        actions = [entry.action for entry in catalog.audit_log("run-a")]
        assert actions == ["run_start", "upload", "download"]
        uris = {artifact["uri"] for artifact in catalog.artifacts("run-a")}
        assert f"s3://{bucket}/datasets/run-a/manifest.json" in uris and len(uris) == 4


def test_upload_and_download_resume_and_skip_what_is_already_verified(moto_endpoint, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-b", big_bytes=1000)
    store = S3Store(_settings(moto_endpoint, bucket, verify="head"), FAST_RETRY)
    upload_package(run_dir, store=store)
    again = upload_package(run_dir, store=store)
    assert (again["uploaded"], again["skipped"]) == (0, 3)
    first = download_package("run-b", tmp_path / "out", store=store)
    second = download_package("run-b", tmp_path / "out", store=store)
    assert (first["downloaded"], second["downloaded"], second["kept"]) == (3, 0, 3)


def test_a_different_package_under_the_same_run_needs_overwrite(moto_endpoint, bucket, tmp_path):
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    upload_package(_make_package(tmp_path / "one", "run-c", big_bytes=100), store=store)
    replacement = _make_package(tmp_path / "two", "run-c", big_bytes=200)
    with pytest.raises(S3PackageError, match="already holds a different package"):
        upload_package(replacement, store=store)
    result = upload_package(replacement, overwrite=True, store=store)
    assert result["uploaded"] == 1  # only the changed file; the others already match
    download_package("run-c", tmp_path / "back", store=store)
    assert _same_tree(replacement, tmp_path / "back")


def test_a_package_whose_files_do_not_match_its_manifest_is_not_uploaded(moto_endpoint, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-d", big_bytes=100)
    (run_dir / "train.jsonl").write_bytes(b"tampered\n")
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    with pytest.raises(S3PackageError, match=r"train\.jsonl does not match its manifest checksum"):
        upload_package(run_dir, store=store)
    assert list_versions(store=store) == []
    (run_dir / "train.jsonl").unlink()
    with pytest.raises(S3PackageError, match="missing"):
        upload_package(run_dir, store=store)
    with pytest.raises(S3PackageError, match=r"no manifest\.json"):
        upload_package(tmp_path / "nowhere", store=store)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("not json", "not valid JSON"),
        ({"run_id": "r"}, "needs a 'files' object"),
        ({"run_id": "../escape", "files": {}}, "run id"),
        ({"run_id": "r", "files": {"../../etc/passwd": "a" * 64}}, "inside the package"),
        ({"run_id": "r", "files": {"/abs": "a" * 64}}, "inside the package"),
        ({"run_id": "r", "files": {"x": "short"}}, "no valid sha256"),
    ],
)
def test_malformed_manifests_are_refused_with_the_reason(moto_endpoint, bucket, tmp_path, manifest, message):
    (tmp_path / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    with pytest.raises(S3PackageError, match=message):
        upload_package(tmp_path, store=store)


def test_download_rejects_a_corrupted_object_and_leaves_no_file_behind(moto_endpoint, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-e", big_bytes=100)
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    upload_package(run_dir, store=store)
    _raw_client(moto_endpoint).put_object(
        Bucket=bucket, Key="datasets/run-e/train.jsonl", Body=b"bit rot", Metadata={"sha256": "0" * 64}
    )
    dest = tmp_path / "restored"
    with pytest.raises(S3TransferError, match=r"train\.jsonl.*after 4 attempts"):
        download_package("run-e", dest, store=store)
    assert not (dest / "train.jsonl").exists()
    assert not (dest / "manifest.json").exists()
    assert not list(dest.rglob("*.part"))


def test_list_and_delete_packages_with_an_audit_entry(moto_endpoint, bucket, tmp_path):
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    upload_package(_make_package(tmp_path, "run-f", big_bytes=10), store=store)
    upload_package(_make_package(tmp_path, "run-g", big_bytes=10), store=store)
    versions = {v.run_id: v for v in list_versions(store=store)}
    assert set(versions) == {"run-f", "run-g"}
    assert versions["run-f"].complete and versions["run-f"].objects == 4
    assert versions["run-f"].version == "2026.11.25" and versions["run-f"].config_hash == "cfg123"
    console = Console(record=True, width=200, color_system=None)
    console.print(format_versions_table(list(versions.values())))
    table_text = console.export_text()
    assert "run-g" in table_text and "complete" in table_text and "1.3 KiB" in table_text

    with Catalog.open() as catalog:
        summary = delete_package("run-f", catalog=catalog, store=store)
        assert summary["objects_deleted"] == 4 and summary["had_manifest"]
        entry = catalog.audit_log("run-f")[-1]
        assert entry.action == "delete" and entry.details["objects_deleted"] == 4
    assert [v.run_id for v in list_versions(store=store)] == ["run-g"]
    with pytest.raises(S3PackageError, match="no package for run run-f"):
        delete_package("run-f", store=store)
    with pytest.raises(S3PackageError, match="no package for run run-f"):
        download_package("run-f", tmp_path / "x", store=store)


def test_a_missing_bucket_is_named_with_the_fix(moto_endpoint, tmp_path):
    store = S3Store(_settings(moto_endpoint, "bucket-that-is-not-there"), FAST_RETRY)
    run_dir = _make_package(tmp_path, "run-nb", big_bytes=10)
    for action in (
        lambda: upload_package(run_dir, store=store),
        lambda: download_package("run-nb", tmp_path / "x", store=store),
        lambda: list_versions(store=store),
        lambda: delete_package("run-nb", store=store),
    ):
        with pytest.raises(
            S3TransferError, match=r"bucket-that-is-not-there does not exist.*fix OVH_S3_BUCKET"
        ):
            action()


def test_an_unreachable_endpoint_is_a_clear_redacted_error(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    store = S3Store(_settings(f"http://127.0.0.1:{closed_port}", "b", max_attempts=2), FAST_RETRY)
    run_dir = _make_package(tmp_path, "run-down", big_bytes=10)
    for action in (lambda: list_versions(store=store), lambda: upload_package(run_dir, store=store)):
        with pytest.raises(S3TransferError, match="Could not connect to the endpoint URL") as failure:
            action()
        assert SECRET_KEY not in str(failure.value) and ACCESS_KEY not in str(failure.value)


def test_prefix_keeps_packages_apart(moto_endpoint, bucket, tmp_path):
    store = S3Store(_settings(moto_endpoint, bucket), FAST_RETRY)
    upload_package(_make_package(tmp_path, "run-h", big_bytes=10), prefix="staging", store=store)
    assert [v.run_id for v in list_versions("staging", store=store)] == ["run-h"]
    assert list_versions(store=store) == []


# -- faults --------------------------------------------------------------------------------------------


def test_a_500_and_a_connection_reset_mid_upload_are_retried_without_loss(fault_proxy, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-i")
    fault_proxy.faults = [
        Fault("PUT", "partNumber=2", "500"),
        Fault("PUT", "partNumber=3", "reset"),
        Fault("PUT", "", "reset", path_has="train.jsonl"),
        Fault("GET", "", "500", path_has="manifest.json", nth=2),
    ]
    store = S3Store(_settings(fault_proxy.endpoint, bucket), FAST_RETRY)
    result = upload_package(run_dir, store=store)
    assert result["uploaded"] == 3
    download_package("run-i", tmp_path / "restored", store=store)
    assert _same_tree(run_dir, tmp_path / "restored")
    assert [fault.fired for fault in fault_proxy.faults] == [1, 1, 1, 1]


def test_our_retry_redoes_a_multipart_upload_that_botocore_gave_up_on(fault_proxy, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-j")
    # botocore makes one attempt per request, so the failed part aborts the whole multipart upload.
    fault_proxy.faults = [Fault("PUT", "partNumber=2", "500", times=2)]
    store = S3Store(_settings(fault_proxy.endpoint, bucket, max_attempts=1), FAST_RETRY)
    upload_package(run_dir, store=store)
    assert fault_proxy.faults[0].fired == 2
    creates = [path for method, path in fault_proxy.requests if method == "POST" and "uploads" in path]
    assert len(creates) == 3  # the first two multipart uploads failed and were started over
    raw = _raw_client(fault_proxy.endpoint)
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    download_package("run-j", tmp_path / "restored", store=store)
    assert _same_tree(run_dir, tmp_path / "restored")


def test_an_interrupted_upload_never_looks_complete_and_finishes_on_retry(fault_proxy, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-k", big_bytes=100)
    # The store is gone for good after the first file: every later upload request fails.
    fault_proxy.faults = [Fault("PUT", "", "reset", nth=2, times=10_000)]
    store = S3Store(_settings(fault_proxy.endpoint, bucket, max_attempts=2), FAST_RETRY)
    with pytest.raises(S3TransferError, match="after 4 attempts") as failure:
        upload_package(run_dir, store=store)
    assert SECRET_KEY not in str(failure.value) and ACCESS_KEY not in str(failure.value)

    [version] = list_versions(store=store)
    assert (version.run_id, version.complete, version.objects) == ("run-k", False, 1)
    with pytest.raises(S3PackageError, match="incomplete"):
        download_package("run-k", tmp_path / "x", store=store)

    fault_proxy.faults = []
    result = upload_package(run_dir, store=store)
    assert (result["uploaded"], result["skipped"]) == (2, 1)
    assert list_versions(store=store)[0].complete


# -- settings, validation, command line ------------------------------------------------------------------


def _env(monkeypatch, **values: str) -> None:
    for name in (
        "OVH_S3_ENDPOINT",
        "OVH_S3_BUCKET",
        "OVH_S3_REGION",
        "OVH_S3_ACCESS_KEY_ID",
        "OVH_S3_SECRET_ACCESS_KEY",
        "OVH_S3_PREFIX",
        "OVH_S3_VERIFY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_settings_come_from_ovh_variables_with_aws_fallback(monkeypatch):
    _env(
        monkeypatch,
        OVH_S3_BUCKET="b",
        OVH_S3_ENDPOINT="s3.gra.io.cloud.ovh.net",
        AWS_ACCESS_KEY_ID="aws-id",
        AWS_SECRET_ACCESS_KEY="aws-secret-value",
    )
    settings = S3Settings.from_env()
    assert settings.endpoint_url == "https://s3.gra.io.cloud.ovh.net"
    assert settings.region == "gra"
    assert settings.access_key_id == "aws-id"
    assert "aws-secret-value" not in repr(settings)
    assert settings.redact("boom aws-secret-value boom") == "boom *** boom"

    _env(
        monkeypatch,
        OVH_S3_BUCKET="b",
        OVH_S3_REGION="sbg",
        OVH_S3_ACCESS_KEY_ID="ovh-id",
        OVH_S3_SECRET_ACCESS_KEY="ovh-secret",
        AWS_ACCESS_KEY_ID="aws-id",
        AWS_SECRET_ACCESS_KEY="aws-s",
        OVH_S3_PREFIX="/prod/",
    )
    settings = S3Settings.from_env()
    assert (settings.region, settings.access_key_id, settings.prefix) == ("sbg", "ovh-id", "prod")
    assert settings.uri("run", "a.json") == "s3://b/prod/run/a.json"

    _env(monkeypatch, OVH_S3_BUCKET="b", OVH_S3_VERIFY="hope")
    with pytest.raises(S3ConfigError, match="OVH_S3_VERIFY"):
        S3Settings.from_env()
    _env(monkeypatch)
    with pytest.raises(S3ConfigError, match="OVH_S3_BUCKET"):
        S3Settings.from_env()
    _env(monkeypatch, OVH_S3_BUCKET="b", OVH_S3_ACCESS_KEY_ID="only-id")
    with pytest.raises(S3ConfigError, match="half of the S3 key pair"):
        S3Settings.from_env()


def test_validate_passes_against_a_working_store(monkeypatch, moto_endpoint, bucket, capsys):
    _env(
        monkeypatch,
        OVH_S3_ENDPOINT=moto_endpoint,
        OVH_S3_BUCKET=bucket,
        OVH_S3_ACCESS_KEY_ID=ACCESS_KEY,
        OVH_S3_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    assert main(["--validate"]) == 0
    out = capsys.readouterr().out
    for line in (
        "endpoint reachable",
        "credentials valid",
        "bucket exists",
        "put probe",
        "get probe",
        "delete probe",
    ):
        assert f"✓ {line}" in out
    assert "S3 is ready." in out
    assert SECRET_KEY not in out and ACCESS_KEY not in out
    assert _raw_client(moto_endpoint).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_validate_names_what_to_fix(monkeypatch, moto_endpoint, bucket):
    settings = _settings(moto_endpoint, "no-such-bucket-here")
    checks = validate(settings)
    assert [(c.name, c.ok) for c in checks][-2:] == [("credentials valid", True), ("bucket exists", False)]
    assert "create it or fix OVH_S3_BUCKET" in checks[-1].detail

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    checks = validate(_settings(f"http://127.0.0.1:{closed_port}", bucket))
    assert (checks[-1].name, checks[-1].ok) == ("endpoint reachable", False)
    assert "check OVH_S3_ENDPOINT" in checks[-1].detail

    _env(monkeypatch)
    assert [(c.name, c.ok) for c in validate()] == [("settings", False)]


def test_module_entry_point_validates_and_moves_packages(monkeypatch, moto_endpoint, bucket, tmp_path):
    env = {
        **os.environ,
        "OVH_S3_ENDPOINT": moto_endpoint,
        "OVH_S3_BUCKET": bucket,
        "OVH_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "OVH_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    module = [sys.executable, "-m", "ai.infrastructure.s3.s3_dataset_loader"]
    ok = subprocess.run(
        [*module, "--validate"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "S3 is ready." in ok.stdout

    _env(monkeypatch, OVH_S3_ENDPOINT=moto_endpoint, OVH_S3_BUCKET="missing-bucket")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    console = Console(record=True, width=80, color_system=None)
    assert main(["--validate"], console=console) == 1
    assert "no keys found: set OVH_S3_ACCESS_KEY_ID and OVH_S3_SECRET_ACCESS_KEY" in console.export_text()
    monkeypatch.setenv("OVH_S3_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("OVH_S3_SECRET_ACCESS_KEY", SECRET_KEY)
    assert main(["--validate"], console=console) == 1
    assert "create it or fix OVH_S3_BUCKET" in console.export_text()

    _env(
        monkeypatch,
        OVH_S3_ENDPOINT=moto_endpoint,
        OVH_S3_BUCKET=bucket,
        OVH_S3_ACCESS_KEY_ID=ACCESS_KEY,
        OVH_S3_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    console = Console(record=True, width=200, color_system=None)
    run_dir = _make_package(tmp_path, "run-cli", big_bytes=10)
    assert main(["upload", str(run_dir)], console=console) == 0
    assert main(["list"], console=console) == 0
    assert main(["download", "run-cli", str(tmp_path / "back")], console=console) == 0
    assert main(["delete", "run-cli"], console=console) == 0
    assert main(["download", "run-cli", str(tmp_path / "again")], console=console) == 1
    text = console.export_text()
    assert "uploaded 3 files" in text and "all verified" in text and "deleted 4 objects" in text
    assert "error: no package for run run-cli" in text
    assert _same_tree(run_dir, tmp_path / "back")
    assert main([], console=console) == 2
    with Catalog.open() as catalog:
        assert [e.action for e in catalog.audit_log("run-cli")] == ["upload", "download", "delete"]

    assert main(["--no-catalog", "upload", str(run_dir)], console=console) == 0
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:topsecretpw@127.0.0.1:1/catalog")
    assert main(["delete", "run-cli"], console=console) == 1
    text = console.export_text()
    assert "cannot open the catalog" in text and "topsecretpw" not in text
    assert [v.run_id for v in list_versions(store=S3Store(S3Settings.from_env()))] == ["run-cli"]


@pytest.mark.parametrize(
    ("failing_request", "error", "failed_check", "advice"),
    [
        (("GET", "list-type=2"), "403:InvalidAccessKeyId", "credentials valid", "check OVH_S3_ACCESS_KEY_ID"),
        (
            ("GET", "list-type=2"),
            "403:SignatureDoesNotMatch",
            "credentials valid",
            "check OVH_S3_SECRET_ACCESS_KEY",
        ),
        (("GET", "list-type=2"), "403:AccessDenied", "bucket exists", "give these keys read/write"),
        (("GET", "list-type=2"), "400:SomethingOdd", "credentials valid", "unexpected answer"),
        (("PUT", ""), "403:AccessDenied", "put probe object", "read/write/delete on the bucket"),
    ],
)
def test_validate_explains_refusals_from_the_store(
    fault_proxy, bucket, failing_request, error, failed_check, advice
):
    method, query = failing_request
    fault_proxy.faults = [Fault(method, query, error)]
    checks = validate(_settings(fault_proxy.endpoint, bucket))
    assert (checks[-1].name, checks[-1].ok) == (failed_check, False)
    assert advice in checks[-1].detail
    assert SECRET_KEY not in checks[-1].detail


def test_permanent_errors_fail_at_once_without_retrying(fault_proxy, bucket, tmp_path):
    run_dir = _make_package(tmp_path, "run-denied", big_bytes=10)
    fault_proxy.faults = [Fault("PUT", "", "403:AccessDenied", times=100)]
    store = S3Store(_settings(fault_proxy.endpoint, bucket), FAST_RETRY)
    with pytest.raises(S3TransferError, match="AccessDenied"):
        upload_package(run_dir, store=store)
    assert fault_proxy.faults[0].fired == 1
    assert list_versions(store=store) == []
