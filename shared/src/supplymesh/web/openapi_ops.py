"""Declarations that finish an OpenAPI operation: examples, extra problems, peer calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Example:
    """A named example body."""

    summary: str
    value: object


@dataclass(frozen=True, slots=True)
class OperationDoc:
    """What the generated document cannot know about one operation."""

    request: Mapping[str, Example] = field(default_factory=dict)
    responses: Mapping[int, Mapping[str, Example]] = field(default_factory=dict)
    problems: frozenset[int] = frozenset()
    calls_peers: bool = False


Operations = Mapping[tuple[str, str], OperationDoc]
"""Operation docs by ``(METHOD, path template)``."""
