"""The command line every judge's training module shares (``python -m ai.safety.<judge>.train``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def training_parser(
    doc: str | None, data: Path, out: Path, data_help: str = "the shared/data folder"
) -> argparse.ArgumentParser:
    """``--data``, ``--out``, ``--seed`` and ``--n-boot``, described by the first paragraph of ``doc``;
    a trainer adds its own options to the parser it gets back."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=data, help=data_help)
    parser.add_argument("--out", type=Path, default=out, help="where to write the artifact")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    return parser
