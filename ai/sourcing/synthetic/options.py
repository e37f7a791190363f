"""``options:`` of ``kind: synthetic`` sources, one struct per mode.

    - name: grounded
      kind: synthetic
      options: {mode: grounded, target: 5000, generation: {endpoint: local}}
    - name: counterfactual
      kind: synthetic
      options: {mode: counterfactual, target: 3500, dimensions: [gender_identity, age, religion]}
    - name: preference-pairs
      kind: synthetic
      options: {mode: preference_pairs, target: 1500, generation: {endpoint: local}}

Every mode generates until ``target`` candidates (or each stratum's quota) pass the run's gates, or
until ``budget * target`` candidates have been tried, and reports which of the two happened.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ai.core.config import ConfigError, SourceConfig
from ai.sourcing.academic.topics import Topic, TriggerOptions, academic_options
from ai.sourcing.generation.options import EndpointOptions
from ai.sourcing.synthetic.demographics import dimensions

DIMENSIONS = dimensions()
Mode = Literal["grounded", "counterfactual", "preference_pairs"]


class _Common(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    mode: Mode
    target: int = 1000
    budget: float = 3.0  # candidates allowed = budget x target (per stratum)
    batch_size: int = 256  # candidates per call of the run's gates
    # Only conversations of these categories are used as material.
    from_categories: list[str] = msgspec.field(default_factory=lambda: ["therapeutic"])

    def __post_init__(self) -> None:
        if self.target < 0:
            raise ValueError("target must be >= 0")
        if self.budget < 1.0:
            raise ValueError("budget must be >= 1.0 (a multiple of the target)")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


class GroundedOptions(_Common, kw_only=True, forbid_unknown_fields=True):
    # endpoint: requests through ai.sourcing.generation.ChatEndpoint; data_designer: the same prompts,
    # endpoint and response cache, with NeMo Data Designer making the requests (extra ``synthetic``).
    engine: Literal["endpoint", "data_designer"] = "endpoint"
    # The model that writes the replies: a local llama.cpp server by default (extra generate-local).
    generation: EndpointOptions = msgspec.field(default_factory=EndpointOptions)
    # Per-stratum targets by passage kind (paper, book, transcript, other); empty: one stratum of ``target``.
    quotas: dict[str, int] = msgspec.field(default_factory=dict)
    # Grounding: a thread may cite a passage only when both are about one condition topic (the journal
    # trigger's taxonomy, or the file ``taxonomy`` names, plus grounding_topics.yaml and ``extra_topics``)
    # and their LSA cosine reaches ``min_similarity`` (measured on tests/data/grounding_pairs.jsonl).
    taxonomy: str = ""
    extra_topics: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    min_similarity: float = 0.10
    max_uses_per_thread: int = 2  # how many different passages one real client thread may be paired with
    # Replies asked per (thread, passage) pair, each with its own seed, until the groundedness judge
    # accepts one; every sample counts against ``budget``.
    samples_per_pair: int = 3
    min_clinical_terms: int = 2  # passage filter: distinct mental-health terms a passage must use
    min_term_density: float = 0.015
    # Before matching, search PubMed / Semantic Scholar for the topics the run's conversations mention
    # but its passages hardly ground (ai.sourcing.academic.topics); see docs/SYNTHETIC.md.
    journal_trigger: TriggerOptions | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.journal_trigger is not None:
            _check_trigger(self.journal_trigger)
        if self.max_uses_per_thread < 1 or self.samples_per_pair < 1:
            raise ValueError("max_uses_per_thread and samples_per_pair must be >= 1")

    def strata(self) -> dict[str, int]:
        return dict(self.quotas) if self.quotas else {"all": self.target}

    def research(self) -> TriggerOptions | None:
        """The journal trigger's options when it is switched on, else None."""
        trigger = self.journal_trigger
        return trigger if trigger is not None and trigger.enabled else None


def _check_trigger(trigger: TriggerOptions) -> None:
    """The nested dicts TriggerOptions keeps loose, checked now rather than halfway through a run."""
    try:
        academic_options(trigger)
    except msgspec.ValidationError as exc:
        raise ValueError(f"journal_trigger.academic: {exc}") from None
    try:
        msgspec.convert(trigger.extra_topics, dict[str, Topic])
    except msgspec.ValidationError as exc:
        raise ValueError(f"journal_trigger.extra_topics: {exc}") from None
    for name in ("max_queries", "max_results_per_query", "max_passages", "min_passages"):
        if getattr(trigger, name) < 0:
            raise ValueError(f"journal_trigger.{name} must be >= 0")


class CounterfactualOptions(_Common, kw_only=True, forbid_unknown_fields=True):
    dimensions: list[str] = msgspec.field(default_factory=lambda: list(DIMENSIONS))
    intersections: bool = True  # also sets that vary two dimensions at once (bias/markers.json lists them)
    variants_per_original: int = 3  # variants of one original, each with a different marker value
    # Names are replaced by the PII stage, which would make every name variant of a set the same text;
    # the judge audit (bias-audit) still uses them.
    exclude_kinds: list[str] = msgspec.field(default_factory=lambda: ["name"])

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dimensions(self.dimensions)
        if self.variants_per_original < 2:
            raise ValueError("variants_per_original must be >= 2 (a set compares values)")


class PreferenceOptions(_Common, kw_only=True, forbid_unknown_fields=True):
    dimensions: list[str] = msgspec.field(default_factory=lambda: list(DIMENSIONS))
    # The model that writes both replies: ``endpoint: local`` (SmolLM2 through llama.cpp, extra
    # generate-local) or ``endpoint: openai`` with base_url and model (ai.sourcing.generation).
    generation: EndpointOptions = msgspec.field(default_factory=EndpointOptions)
    # What makes a pair worth training on (see ai.sourcing.synthetic.preference.check_pair).
    max_length_ratio: float = 1.8
    min_topic_overlap: float = 0.2
    min_words: int = 12
    # One-sentence requests for the stereotyped sentence of a pair before the pair is given up.
    stereotype_attempts: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dimensions(self.dimensions)
        if self.stereotype_attempts < 1:
            raise ValueError("stereotype_attempts must be >= 1")
        if self.max_length_ratio < 1.0 or not 0.0 <= self.min_topic_overlap <= 1.0:
            raise ValueError("max_length_ratio must be >= 1 and min_topic_overlap within 0..1")


def _check_dimensions(chosen: list[str]) -> None:
    unknown = sorted(set(chosen) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"unknown dimensions {unknown}; known: {', '.join(DIMENSIONS)}")


_BY_MODE: dict[str, type[_Common]] = {
    "grounded": GroundedOptions,
    "counterfactual": CounterfactualOptions,
    "preference_pairs": PreferenceOptions,
}
AnyOptions = GroundedOptions | CounterfactualOptions | PreferenceOptions


def parse_options(source: SourceConfig) -> Any:
    """The options struct for the source's ``options.mode``, or a ConfigError naming the problem."""
    raw = dict(source.options)
    mode = raw.get("mode")
    if mode not in _BY_MODE:
        raise ConfigError(
            f"sources[{source.name}].options.mode: expected one of {', '.join(_BY_MODE)}, got {mode!r}"
        )
    try:
        return msgspec.convert(raw, _BY_MODE[mode], strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"sources[{source.name}].options: {exc}") from None
