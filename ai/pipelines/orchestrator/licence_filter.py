"""The ``licence`` stage: keep only records whose source licence permits the use the config allows.

    stages:
      licence:
        enabled: true                # off by default
        allow: [commercial]          # or licence ids: [mit, cc-by-4.0], or both

Off unless ``enabled: true``. Each entry of ``allow`` is a use class (``commercial``, ``non-commercial``,
``unknown``; see :mod:`ai.core.licences`) or a Hugging Face licence id. A refused record goes to the
quarantine with reason ``licence_not_allowed`` and the licence it carries, so the report shows what the
filter removed; the manifest's licence mix shows what it would remove before anyone switches it on.
"""

from __future__ import annotations

import msgspec

from ai.core.licences import HF_LICENSES, USES, hf_license, licence_use
from ai.core.records import Conversation
from ai.core.stage import GateStage, Rejection, StageOptions


class LicenceOptions(StageOptions, kw_only=True):
    # Everything by default: switching the stage on without ``allow`` changes nothing.
    allow: list[str] = msgspec.field(default_factory=lambda: list(USES))

    def __post_init__(self) -> None:
        self.allow = [entry.strip().lower() for entry in self.allow]
        known = {*USES, *HF_LICENSES, "other"}
        unknown = [entry for entry in self.allow if entry not in known]
        if unknown or not self.allow:
            raise ValueError(
                f"allow must list uses ({', '.join(USES)}) or licence ids such as mit or cc-by-4.0; "
                f"got {unknown or 'nothing'}"
            )


class LicenceStage(GateStage[LicenceOptions]):
    name = "licence"
    version = "1"
    enabled_by_default = False
    Options = LicenceOptions

    def judge(self, record: Conversation) -> Rejection | None:
        text = record.source.license
        use, licence = licence_use(text), hf_license(text)
        if use in self.options.allow or licence in self.options.allow:
            return None
        self.count(use)
        return self.reject(
            record,
            "licence_not_allowed",
            f"source {record.source.name!r} is licensed {text or 'with no licence stated'!r} "
            f"({licence}, {use} use); allowed: {', '.join(self.options.allow)}",
        )
