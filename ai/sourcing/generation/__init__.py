"""Text from a language model behind an OpenAI-compatible endpoint, for every generator of the product.

Public API (also used by the preference-pair generator):

- ``EndpointOptions`` / ``parse_endpoint_options``: the ``generation:`` config section.
- ``ChatEndpoint.from_options(options, workdir)``: a context manager; ``complete(messages, seed=..,
  **params)`` and ``complete_many([ChatRequest(...)])`` return ``Completion`` or ``EndpointError``;
  ``provenance()`` says what wrote the text; ``stats`` counts requests, cache hits and tokens.
- ``LocalLlamaServer``: the llama.cpp server lifecycle behind ``endpoint: local``.

See docs/SYNTHETIC.md.
"""

from ai.sourcing.generation.endpoint import (
    ChatEndpoint,
    ChatRequest,
    Completion,
    EndpointError,
    EndpointStats,
)
from ai.sourcing.generation.options import EndpointOptions, parse_endpoint_options
from ai.sourcing.generation.server import LocalLlamaServer, ServerError, bundled_model_path

__all__ = [
    "ChatEndpoint",
    "ChatRequest",
    "Completion",
    "EndpointError",
    "EndpointOptions",
    "EndpointStats",
    "LocalLlamaServer",
    "ServerError",
    "bundled_model_path",
    "parse_endpoint_options",
]
