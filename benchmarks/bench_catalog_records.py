"""How long indexing N records in the catalog takes (SQLite file by default, or --url for PostgreSQL).

    uv run python benchmarks/bench_catalog_records.py [--records 100000] [--url postgresql+psycopg://...]

A PostgreSQL URL gets a throw-away schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine

from ai.infrastructure.database import Catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    rows = [
        {
            "record_id": f"c_{i:012d}",
            "split": ("train", "validation", "test")[i % 3],
            "category": "therapeutic",
            "source": "bench",
            "content_hash": f"{i:040x}",
            "gate_outcome": "passed",
        }
        for i in range(args.records)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'catalog.sqlite'}"
        schema_name = f"bench_{uuid.uuid4().hex[:8]}" if url.startswith("postgres") else None
        try:
            with Catalog.open(url, schema_name=schema_name) as catalog:
                catalog.start_run("bench", "bench", "cfg", tmp)
                for attempt in ("insert", "re-insert (upsert)"):
                    started = time.perf_counter()
                    catalog.add_records("bench", rows)
                    seconds = time.perf_counter() - started
                    print(
                        f"{catalog.dialect}: {attempt} of {args.records:,} index rows: {seconds:.2f} s "
                        f"({args.records / seconds:,.0f} rows/s)"
                    )
        finally:
            if schema_name:
                engine = create_engine(url)
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
                engine.dispose()


if __name__ == "__main__":
    main()
