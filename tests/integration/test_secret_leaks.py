"""Security: planted secrets never leak, XML goes through defusedxml, the catalog audits a full run.

The demo config is run by the real CLI with fake secrets in the environment (S3 keys, API keys, the
PostgreSQL password in DATABASE_URL) and in the config through ``${VAR}``. Then every file the run
wrote, the workspace, every catalog row, the report and the captured stdout/stderr are searched for
each secret. Failing commands (a catalog it cannot reach, an S3 endpoint that refuses) are searched too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator"]

SECRETS = {
    "OVH_S3_ACCESS_KEY_ID": "FAKEACCESSKEY7Q2W9E",
    "OVH_S3_SECRET_ACCESS_KEY": "fake-s3-secret-Zx81vQ0pLm",
    "S2_API_KEY": "fake-s2-key-Hq47Tn2Rb",
    "NCBI_API_KEY": "fake-ncbi-key-Pw93Kd6Yc",
    "BOOK_PASSWORD": "fake-book-password-Vn28Jr",
}
DB_PASSWORD = "fake-db-pw-Lk55Ms3Q"


def planted_env(home: Path, database_url: str, schema: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OVH_S3_", "DATABASE_"))}
    env.update(SECRETS)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DATABASE_SCHEMA": schema,
            "DATASET_PIPELINE_HOME": str(home),
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def leaks(text: str) -> list[str]:
    return [s for s in [*SECRETS.values(), DB_PASSWORD] if s in text]


def demo_config(tmp_path: Path) -> Path:
    """configs/demo.yaml with absolute paths, the catalog URL and a book password taken from ${VAR}s."""
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    for source in data["sources"]:
        source["path"] = str((REPO / "configs" / source["path"]).resolve())
    data["sources"].append(
        {
            "name": "locked-books",
            "kind": "books",
            "path": str(tmp_path / "no-books-here"),
            "options": {"password": "${BOOK_PASSWORD}"},
        }
    )
    data["catalog"] = {"url": "${DATABASE_URL}"}
    data["run"]["workers"] = 2
    path = tmp_path / "demo-with-secrets.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def planted_run(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("secrets")
    schema = f"secrets_{uuid.uuid4().hex[:12]}"
    url = make_url(postgres_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    env = planted_env(base / "home", url, schema)
    run_dir = base / "run"
    config = demo_config(base)
    result = subprocess.run(
        [*CLI, "run", "--config", str(config), "--output", str(run_dir)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    yield {"base": base, "run_dir": run_dir, "env": env, "url": url, "schema": schema, "result": result}
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.mark.postgres
def test_the_secrets_were_really_used(planted_run: dict) -> None:
    """Guards the leak checks below: the run did read the ${VAR} config and did use PostgreSQL."""
    config_copy = (planted_run["run_dir"] / "config.yaml").read_text()
    assert "${BOOK_PASSWORD}" in config_copy and "${DATABASE_URL}" in config_copy
    quarantine = (planted_run["run_dir"] / "quarantine" / "ingest.jsonl").read_text()
    assert "no-books-here" in quarantine
    engine = sa.create_engine(planted_run["url"])
    with engine.connect() as conn:
        runs = conn.exec_driver_sql(f'SELECT count(*) FROM "{planted_run["schema"]}".runs').scalar()
    engine.dispose()
    assert runs == 1


@pytest.mark.postgres
def test_no_secret_in_any_output_file_or_console_output(planted_run: dict) -> None:
    from ai.pipelines.report import write_report

    write_report(planted_run["run_dir"])
    result = planted_run["result"]
    assert not leaks(result.stdout + result.stderr)
    scanned = 0
    for root in (planted_run["run_dir"], planted_run["base"] / "home"):
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                found = leaks(path.read_bytes().decode("utf-8", "replace"))
                assert not found, f"{path} contains {found}"
    assert scanned >= 10


@pytest.mark.postgres
def test_no_secret_in_any_catalog_row(planted_run: dict) -> None:
    engine = sa.create_engine(planted_run["url"])
    schema = planted_run["schema"]
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names(schema=schema)
        assert {"runs", "audit_log", "artifacts"} <= set(tables)
        for table in tables:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            found = leaks(" ".join(repr(tuple(row)) for row in rows))
            assert not found, f"catalog table {table} contains {found}"
    engine.dispose()


@pytest.mark.postgres
def test_the_audit_log_records_every_mutation_of_a_full_run(planted_run: dict) -> None:
    from ai.infrastructure.database.persistence import Catalog

    run_id = json.loads((planted_run["run_dir"] / "run.json").read_text())["run_id"]
    manifest = json.loads((planted_run["run_dir"] / "manifest.json").read_text())
    with Catalog.open(planted_run["url"], schema_name=planted_run["schema"]) as catalog:
        entries = catalog.audit_log(run_id)
        artifacts = catalog.artifacts(run_id)
    actions = [e.action for e in entries]
    assert actions[0] == "run_start" and actions[-1] == "run_finish", actions
    assert actions.index("export") < actions.index("run_finish")
    assert {"records_indexed", "quarantine_added"} <= set(actions)
    by_action = {e.action: e for e in entries}
    assert by_action["run_finish"].details["status"] == "succeeded"
    assert by_action["run_finish"].details["counts"]["exported"] == manifest["counts"]["exported"]
    assert by_action["export"].details["files"] == len(manifest["files"]) == len(artifacts)
    assert by_action["records_indexed"].details["rows"] == manifest["counts"]["exported"]
    assert by_action["quarantine_added"].details["rows"] == manifest["counts"]["quarantined"]
    assert all(e.actor for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_a_catalog_it_cannot_reach_fails_without_showing_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:9/test?connect_timeout=2"
    env = planted_env(tmp_path / "home", url, "unused")
    result = subprocess.run(
        [*CLI, "run", "--config", str(demo_config(tmp_path)), "--output", str(tmp_path / "run"), "--quiet"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "catalog" in result.stderr and "127.0.0.1" in result.stderr, result.stderr
    assert not leaks(result.stdout + result.stderr)
    log = tmp_path / "run" / "logs" / "run.jsonl"
    assert not log.exists() or not leaks(log.read_text())


def test_an_s3_endpoint_that_refuses_fails_without_showing_the_keys(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": "run-x", "files": {}}))
    env = planted_env(tmp_path / "home", f"sqlite:///{tmp_path / 'c.sqlite'}", "unused")
    env.update({"OVH_S3_ENDPOINT": "http://127.0.0.1:9", "OVH_S3_BUCKET": "packages"})
    result = subprocess.run(
        [*CLI, "upload", str(run_dir)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "127.0.0.1:9" in result.stdout + result.stderr, result.stderr
    assert not leaks(result.stdout + result.stderr)


# --- XML parsing goes through defusedxml --------------------------------------------------------------

UNSAFE_XML_MODULES = ("xml.etree", "xml.dom", "xml.sax", "xml.parsers.expat", "lxml", "xmltodict")
XML_SOUP_FEATURES = ("xml", "lxml-xml")
# Names that parse nothing: type hints and the error class that defusedxml raises.
XML_TYPES_ONLY = {"Element", "ParseError"}


def _unsafe_xml_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "xml.etree.ElementTree" and {a.name for a in node.names} <= XML_TYPES_ONLY:
                continue
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        unsafe = next((n for n in names if n.startswith(UNSAFE_XML_MODULES)), None)
        if unsafe:
            found.append(f"{path}:{node.lineno} imports {unsafe}")
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "BeautifulSoup"
        ):
            features = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            features += [
                k.value.value
                for k in node.keywords
                if k.arg == "features" and isinstance(k.value, ast.Constant)
            ]
            found += [
                f"{path}:{node.lineno} BeautifulSoup(..., {f!r})" for f in features if f in XML_SOUP_FEATURES
            ]
    return found


def test_no_module_parses_xml_without_defusedxml() -> None:
    """XML from the outside (PubMed, EPUB packages, timed-text subtitles) goes through defusedxml only."""
    files = sorted((REPO / "ai").rglob("*.py"))
    assert len(files) > 50
    problems = [problem for path in files for problem in _unsafe_xml_uses(path)]
    assert not problems, "\n".join(problems)


def test_the_xml_check_catches_direct_parsers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import xml.etree.ElementTree as ET\nfrom lxml import etree\nfrom xml.dom import minidom\n"
        "from xml.etree.ElementTree import Element, fromstring\n"
        "from bs4 import BeautifulSoup\nsoup = BeautifulSoup(data, 'lxml-xml')\n"
    )
    bad.write_text(bad.read_text() + "from xml.etree.ElementTree import Element, ParseError\n")
    assert len(_unsafe_xml_uses(bad)) == 5
