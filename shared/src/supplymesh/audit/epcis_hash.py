"""The EPCIS Event Hash ID (GS1 CBV 2.0, "event hash ID"): a content hash of one event.

An event's *pre-hash string* is built from its fields in the canonical property order,
each value written as ``key=value`` with no separator, list elements sorted by their
case-sensitive code-point order (a list name appears once), a ``type`` attribute put
before the value it qualifies (``type=…bizTransaction=…``), and then

- times in UTC with millisecond precision (``2005-04-04T02:33:31.116Z``; a 4th decimal
  of 5–9 rounds the 3rd up);
- CBV values as GS1 web URIs, EPC URIs as canonical GS1 Digital Link URIs, other
  identifiers unchanged (:func:`supplymesh.audit.epcis_uris.canonical_uri`);
- user extensions last, as ``{namespace}local=value``, sorted.

The event hash ID is ``ni:///sha-256;<hex of SHA-256(pre-hash, UTF-8)>?ver=CBV2.0``
(RFC 6920). ``eventID``, ``recordTime`` and ``@context`` never take part.

Fields this module does not canonicalise (error declarations, persistent dispositions,
sensor data, ILMD, certification info) raise
:class:`~supplymesh.audit.epcis_uris.UnsupportedEventField` instead of
producing a hash another implementation would not reproduce. Numbers must be ``int`` or
:class:`~decimal.Decimal` (parse JSON with ``parse_float=Decimal``); floats are refused.

Pure: no I/O, no clock; JSON-LD contexts are never fetched — the namespaces of extension
prefixes are passed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from supplymesh.audit.epcis_uris import STANDARD_CURIES, UnsupportedEventField, canonical_uri

CBV_VERSION = "CBV2.0"
_IGNORED = frozenset({"@context", "eventID", "recordTime", "type"})
_UNSUPPORTED = frozenset(
    {"errorDeclaration", "persistentDisposition", "sensorElementList", "ilmd", "certificationInfo"}
)
_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")
_EVENT_TYPES = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"}
)


# -- values ------------------------------------------------------------------------------------


def normalise_time(text: str) -> str:
    """An ``xsd:dateTimeStamp`` in UTC at millisecond precision, e.g. ``…T02:33:31.116Z``."""
    match = _TIME_RE.match(text.strip())
    if match is None:
        raise UnsupportedEventField(f"{text!r} is not an RFC 3339 date-time with an offset")
    whole, fraction, offset = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if offset == "Z" else offset))
    digits = (fraction or "").ljust(4, "0")
    millis = int(digits[:3]) + (1 if digits[3] >= "5" else 0)
    moment = moment.astimezone(UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_number(value: object) -> str:
    """A quantity without trailing zeros (``1``, ``0.3434``, never ``1.0``)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UnsupportedEventField(f"number {value!r} must be an int or a Decimal")
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise UnsupportedEventField(f"number {value!r} is not finite")
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


# -- the pre-hash string -----------------------------------------------------------------------


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise UnsupportedEventField(f"{field} must be a string, got {value!r}")
    return value


def _epcs(name: str, values: object) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise UnsupportedEventField(f"{name} must be a list")
    items = sorted("epc=" + canonical_uri(_text(v, name)) for v in values)
    return name + "".join(items) if items else ""


def _quantities(name: str, values: object) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise UnsupportedEventField(f"{name} must be a list")
    items = []
    for element in values:
        if not isinstance(element, Mapping) or set(element) - {"epcClass", "quantity", "uom"}:
            raise UnsupportedEventField(f"{name}: unexpected quantity element {element!r}")
        text = "quantityElement"
        text += "epcClass=" + canonical_uri(_text(element.get("epcClass"), "epcClass"))
        if "quantity" in element:
            text += "quantity=" + format_number(element["quantity"])
        if "uom" in element:
            text += "uom=" + _text(element["uom"], "uom").strip()
        items.append(text)
    items.sort()
    return name + "".join(items) if items else ""


def _typed(name: str, key: str, vocabulary: str, values: object) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise UnsupportedEventField(f"{name} must be a list")
    items = []
    for element in values:
        if not isinstance(element, Mapping) or set(element) - {"type", key}:
            raise UnsupportedEventField(f"{name}: unexpected element {element!r}")
        text = ""
        if "type" in element:
            text += "type=" + canonical_uri(_text(element["type"], "type"), vocabulary)
        text += f"{key}=" + canonical_uri(_text(element.get(key), key))
        items.append(text)
    items.sort()
    return name + "".join(items) if items else ""


def _place(name: str, value: object) -> str:
    if not isinstance(value, Mapping) or set(value) != {"id"}:
        raise UnsupportedEventField(f"{name} must be {{'id': …}} (extensions are not supported)")
    return f"{name}id=" + canonical_uri(_text(value["id"], name))


def _scalar(name: str, vocabulary: str | None = None) -> Callable[[object], str]:
    def render(value: object) -> str:
        return f"{name}=" + canonical_uri(_text(value, name), vocabulary)

    return render


def _plain(name: str) -> Callable[[object], str]:
    def render(value: object) -> str:
        return f"{name}=" + _text(value, name).strip()

    return render


_ORDER: tuple[tuple[str, Callable[[object], str]], ...] = (
    ("eventTime", lambda v: "eventTime=" + normalise_time(_text(v, "eventTime"))),
    ("eventTimeZoneOffset", _plain("eventTimeZoneOffset")),
    ("epcList", lambda v: _epcs("epcList", v)),
    ("parentID", _scalar("parentID")),
    ("inputEPCList", lambda v: _epcs("inputEPCList", v)),
    ("childEPCs", lambda v: _epcs("childEPCs", v)),
    ("quantityList", lambda v: _quantities("quantityList", v)),
    ("childQuantityList", lambda v: _quantities("childQuantityList", v)),
    ("inputQuantityList", lambda v: _quantities("inputQuantityList", v)),
    ("outputEPCList", lambda v: _epcs("outputEPCList", v)),
    ("outputQuantityList", lambda v: _quantities("outputQuantityList", v)),
    ("action", _plain("action")),
    ("transformationID", _scalar("transformationID")),
    ("bizStep", _scalar("bizStep", "BizStep-")),
    ("disposition", _scalar("disposition", "Disp-")),
    ("readPoint", lambda v: _place("readPoint", v)),
    ("bizLocation", lambda v: _place("bizLocation", v)),
    ("bizTransactionList", lambda v: _typed("bizTransactionList", "bizTransaction", "BTT-", v)),
    ("sourceList", lambda v: _typed("sourceList", "source", "SDT-", v)),
    ("destinationList", lambda v: _typed("destinationList", "destination", "SDT-", v)),
)
_STANDARD = frozenset(name for name, _ in _ORDER)


def _extension_key(key: str, namespaces: Mapping[str, str]) -> str:
    prefix, colon, local = key.partition(":")
    if not colon or not local or prefix not in namespaces:
        raise UnsupportedEventField(f"field {key!r} is neither standard nor a known extension prefix")
    return "{" + namespaces[prefix] + "}" + local


def _extension(key: str, value: object, namespaces: Mapping[str, str]) -> list[str]:
    name = _extension_key(key, namespaces)
    if isinstance(value, Mapping):
        children = sorted(s for k, v in value.items() for s in _extension(str(k), v, namespaces))
        return [name + "".join(children)]
    if isinstance(value, list):
        return [s for item in value for s in _extension(key, item, namespaces)]
    if isinstance(value, str):
        return [f"{name}={canonical_uri(value)}"]
    return [f"{name}={format_number(value)}"]


def prehash_string(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 event (JSON binding).

    ``namespaces`` maps extension prefixes (``example``) to their namespace IRIs
    (``http://ns.example.com/epcis/``), as the document's ``@context`` declares them.

    Raises:
        UnsupportedEventField: a field or value outside what this module canonicalises.
    """
    kind = event.get("type")
    if kind not in _EVENT_TYPES:
        raise UnsupportedEventField(f"event type {kind!r} is not an EPCIS 2.0 event type")
    unsupported = _UNSUPPORTED & set(event)
    if unsupported:
        raise UnsupportedEventField(f"fields {sorted(unsupported)} are not supported by this hash")
    parts = [f"eventType={kind}"]
    parts += [render(event[name]) for name, render in _ORDER if name in event]
    spaces = {**STANDARD_CURIES, **(namespaces or {})}
    extensions = [
        s
        for key, value in event.items()
        if key not in _STANDARD and key not in _IGNORED
        for s in _extension(key, value, spaces)
    ]
    return "".join(parts) + "".join(sorted(extensions))


def hash_id(prehash: str) -> str:
    """The ``ni:`` URI of a pre-hash string."""
    digest = hashlib.sha256(prehash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={CBV_VERSION}"


def event_hash_id(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """The EPCIS Event Hash ID of one event (see :func:`prehash_string`)."""
    return hash_id(prehash_string(event, namespaces))


def context_namespaces(context: object) -> dict[str, str]:
    """Prefix → namespace declared inline in a document's ``@context`` (URLs are not fetched)."""
    entries = context if isinstance(context, list) else [context]
    found: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            found.update({str(k): v for k, v in entry.items() if isinstance(v, str)})
    return found
