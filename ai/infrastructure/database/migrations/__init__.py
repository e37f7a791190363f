"""Alembic migrations for the catalog, applied programmatically by ``Catalog.open`` (no alembic.ini)."""
