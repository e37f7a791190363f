"""Licences of sources: the Hugging Face id of a free-text licence, and what use it permits.

Sources state their licence as text ("CC BY-NC 4.0 (thu-coai/...; academic research use only)"); the
card, the report and the ``licence`` stage need to compare them, so they all read them through here.
"""

from __future__ import annotations

import re

# What a licence lets a user do with the data, coarsest first.
COMMERCIAL = "commercial"  # permissive or copyleft: commercial use allowed under its terms
NON_COMMERCIAL = "non-commercial"  # NC licences and "research use only" terms
UNKNOWN = "unknown"  # no licence stated, or one this module does not know: ask before use
USES = (COMMERCIAL, NON_COMMERCIAL, UNKNOWN)
_NON_COMMERCIAL_TERMS = re.compile(
    r"non-?commercial|research (use|purposes) only|academic research use", re.I
)

# Licence identifiers the Hugging Face Hub knows, for the ones sources here are likely to carry.
HF_LICENSES = frozenset(
    {
        "apache-2.0",
        "mit",
        "bsd-2-clause",
        "bsd-3-clause",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl-3.0",
        "agpl-3.0",
        "odc-by",
        "odbl",
        "pddl",
        "unlicense",
    }
)


def hf_license(text: str) -> str:
    """The Hub licence id for a source's free-text licence ("CC BY-NC 4.0 (...)" -> "cc-by-nc-4.0")."""
    head = text.split("(", 1)[0].split(";", 1)[0].strip().lower()
    if not head or head.startswith(("no licen", "none", "unknown", "no license")):
        return "unknown"
    candidate = re.sub(r"[\s_]+", "-", head).replace("--", "-")
    candidate = re.sub(r"^cc-?by", "cc-by", candidate)
    candidate = {"apache-2": "apache-2.0", "apache": "apache-2.0", "cc0": "cc0-1.0", "cc-0": "cc0-1.0"}.get(
        candidate, candidate
    )
    return candidate if candidate in HF_LICENSES else "other"


def licence_use(text: str) -> str:
    """``commercial``, ``non-commercial`` or ``unknown`` for a source's free-text licence."""
    licence = hf_license(text)
    if "-nc" in licence or _NON_COMMERCIAL_TERMS.search(text):
        return NON_COMMERCIAL
    if licence in ("unknown", "other"):
        return UNKNOWN
    return COMMERCIAL
