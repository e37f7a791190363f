"""Checks an EPUB container before any of it is decompressed: zip validity, paths and bomb ratios."""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from ai.sourcing.books.model import BookError, BookOptions

CONTAINER = "META-INF/container.xml"
OPF_MEDIA_TYPE = "application/oebps-package+xml"
_CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_SMALL_MEMBER = 1_000_000  # below this, a high compression ratio is harmless (e.g. a page of spaces)


def check_epub_container(path: Path, options: BookOptions) -> None:
    """Raise BookError unless ``path`` is a sane zip holding an OCF container with a safe OPF."""
    if path.stat().st_size == 0:
        raise BookError("empty_file", f"{path.name}: the file is empty")
    if not zipfile.is_zipfile(path):
        raise BookError("not_a_zip", f"{path.name}: not a ZIP archive (an EPUB must be a ZIP container)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_members(path, infos, options)
            opf_path = _rootfile(path, archive)
            _safe_xml(path, opf_path, archive.read(opf_path))
    except zipfile.BadZipFile as exc:
        raise BookError("corrupt_zip", f"{path.name}: broken ZIP archive ({exc})") from None


def _check_members(path: Path, infos: list[zipfile.ZipInfo], options: BookOptions) -> None:
    if len(infos) > options.max_zip_entries:
        raise BookError(
            "zip_bomb",
            f"{path.name}: {len(infos):,} zip entries, over the limit of {options.max_zip_entries:,}",
        )
    total = 0
    for info in infos:
        if _unsafe_name(info.filename):
            raise BookError(
                "unsafe_zip_path", f"{path.name}: zip entry {info.filename!r} escapes the archive"
            )
        if info.file_size > options.max_member_bytes:
            raise BookError(
                "zip_bomb",
                f"{path.name}: entry {info.filename!r} expands to {info.file_size:,} bytes, "
                f"over the limit of {options.max_member_bytes:,}",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _SMALL_MEMBER and ratio > options.max_compression_ratio:
            raise BookError(
                "zip_bomb",
                f"{path.name}: entry {info.filename!r} has a compression ratio of {ratio:,.0f}:1, "
                f"over the limit of {options.max_compression_ratio:,.0f}:1",
            )
        total += info.file_size
    if total > options.max_uncompressed_bytes:
        raise BookError(
            "zip_bomb",
            f"{path.name}: expands to {total:,} bytes, over the limit of {options.max_uncompressed_bytes:,}",
        )


def _unsafe_name(name: str) -> bool:
    """Zip-slip: absolute paths, drive letters, backslashes or '..' that climb out of the archive."""
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in posixpath.normpath(name).split("/")) or ".." in name.split("/")


def _rootfile(path: Path, archive: zipfile.ZipFile) -> str:
    if CONTAINER not in archive.namelist():
        raise BookError("not_an_epub", f"{path.name}: no {CONTAINER}; this ZIP is not an EPUB container")
    root = _safe_xml(path, CONTAINER, archive.read(CONTAINER))
    for rootfile in root.iter(f"{_CONTAINER_NS}rootfile"):
        full_path = rootfile.get("full-path", "")
        if full_path and rootfile.get("media-type") == OPF_MEDIA_TYPE:
            if full_path not in archive.namelist():
                raise BookError("not_an_epub", f"{path.name}: {CONTAINER} points to missing {full_path!r}")
            return full_path
    raise BookError(
        "not_an_epub", f"{path.name}: {CONTAINER} names no package file of media-type {OPF_MEDIA_TYPE}"
    )


def _safe_xml(path: Path, member: str, data: bytes) -> Any:
    """Parse with defusedxml so entity expansion and external entities are refused, not followed."""
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise BookError("unsafe_xml", f"{path.name}: {member} uses forbidden XML entities ({exc})") from None
    except SafeET.ParseError as exc:
        raise BookError("corrupt_epub", f"{path.name}: {member} is not well-formed XML ({exc})") from None
