"""`dataset-pipeline upload / list-packages / download / delete-package` against moto's real S3 server."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pipeline_helpers import cli, write_openai_jsonl

from ai.infrastructure.database.persistence import Catalog

SECRET = "cli-test-secret-key-0123456789"


@pytest.fixture()
def s3_env(monkeypatch: pytest.MonkeyPatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIACLI",
        aws_secret_access_key=SECRET,
    ).create_bucket(Bucket="datasets")
    for name, value in {
        "OVH_S3_ENDPOINT": endpoint,
        "OVH_S3_BUCKET": "datasets",
        "OVH_S3_REGION": "us-east-1",
        "OVH_S3_ACCESS_KEY_ID": "AKIACLI",
        "OVH_S3_SECRET_ACCESS_KEY": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    server.stop()


def test_upload_list_download_delete_round_trip(s3_env: str, tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c.jsonl"
    write_openai_jsonl(corpus, 60, seed=5)
    run_dir = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(run_dir), "-w", "1", "-q") == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    run_id = manifest["run_id"]

    assert cli("upload", str(run_dir)) == 0
    capsys.readouterr()
    assert cli("list-packages") == 0
    assert run_id in capsys.readouterr().out

    dest = tmp_path / "fetched"
    assert cli("download", run_id, str(dest)) == 0
    for rel in manifest["files"]:
        assert (dest / rel).read_bytes() == (run_dir / rel).read_bytes()

    assert cli("delete-package", run_id, "--yes") == 0
    assert cli("download", run_id, str(tmp_path / "again")) != 0

    with Catalog.open() as catalog:
        actions = [entry.action for entry in catalog.audit_log(run_id)]
    assert {"upload", "download", "delete"} <= set(actions)
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
