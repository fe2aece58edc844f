"""EPC URIs and CBV values as the EPCIS Event Hash ID's pre-hash string writes them (GS1 CBV 2.0).

- CBV values become GS1 web URIs: bare words in a vocabulary field (``shipping``) and
  URNs (``urn:epcglobal:cbv:bizstep:shipping``) both become
  ``https://ref.gs1.org/cbv/BizStep-shipping``;
- EPC URIs (``urn:epc:id:…``, ``urn:epc:class:…``, ``urn:epc:idpat:…``) become canonical
  GS1 Digital Link URIs on ``https://id.gs1.org`` (SGTIN, SSCC, SGLN, PGLN, GDTI, LGTIN
  and SGTIN patterns here; any other EPC scheme is refused rather than hashed wrongly);
- standard compact IRIs (``gs1:``, ``cbv:``, ``epcis:``) are expanded;
- other identifiers (``urn:supplymesh:…``, ``http://…``) are kept unchanged.

Pure: no I/O. :mod:`supplymesh.audit.epcis_hash` builds the pre-hash string with it.
"""

from __future__ import annotations

from collections.abc import Callable

CBV_WEB = "https://ref.gs1.org/cbv/"
DIGITAL_LINK = "https://id.gs1.org"
STANDARD_CURIES = {
    "gs1": "https://gs1.org/voc/",
    "cbv": "https://ref.gs1.org/cbv/",
    "epcis": "https://ref.gs1.org/epcis/",
}
# URN form of CBV vocabularies and the term prefix of their web URIs.
_CBV_URNS = {
    "urn:epcglobal:cbv:bizstep:": "BizStep-",
    "urn:epcglobal:cbv:disp:": "Disp-",
    "urn:epcglobal:cbv:btt:": "BTT-",
    "urn:epcglobal:cbv:sdt:": "SDT-",
    "urn:epcglobal:cbv:er:": "ER-",
}


class UnsupportedEventField(ValueError):
    """The event holds a field or value this implementation cannot canonicalise."""


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _parts(uri: str, prefix: str, count: int) -> list[str]:
    parts = uri[len(prefix) :].split(".")
    if len(parts) != count or not all(parts[:2]) or not parts[0].isdigit():
        raise UnsupportedEventField(f"{uri!r} is not a valid EPC URI")
    return parts


def _gtin(company: str, indicator_item: str) -> str:
    if not indicator_item.isdigit() or len(company) + len(indicator_item) != 13:
        raise UnsupportedEventField(f"GTIN parts {company}.{indicator_item} do not make 13 digits")
    body = indicator_item[0] + company + indicator_item[1:]
    return body + _check_digit(body)


def _gln(company: str, reference: str) -> str:
    if not (company + reference).isdigit() or len(company) + len(reference) != 12:
        raise UnsupportedEventField(f"GLN parts {company}.{reference} do not make 12 digits")
    body = company + reference
    return body + _check_digit(body)


def _sgtin(uri: str) -> str:
    company, item, serial = _parts(uri, "urn:epc:id:sgtin:", 3)
    return f"{DIGITAL_LINK}/01/{_gtin(company, item)}/21/{serial}"


def _sscc(uri: str) -> str:
    company, reference = _parts(uri, "urn:epc:id:sscc:", 2)
    if not reference.isdigit() or len(company) + len(reference) != 17:
        raise UnsupportedEventField(f"{uri!r} does not make an 18-digit SSCC")
    body = reference[0] + company + reference[1:]
    return f"{DIGITAL_LINK}/00/{body}{_check_digit(body)}"


def _sgln(uri: str) -> str:
    company, location, extension = _parts(uri, "urn:epc:id:sgln:", 3)
    gln = _gln(company, location)
    return f"{DIGITAL_LINK}/414/{gln}" + ("" if extension == "0" else f"/254/{extension}")


def _pgln(uri: str) -> str:
    company, party = _parts(uri, "urn:epc:id:pgln:", 2)
    return f"{DIGITAL_LINK}/417/{_gln(company, party)}"


def _gdti(uri: str) -> str:
    company, document, serial = _parts(uri, "urn:epc:id:gdti:", 3)
    return f"{DIGITAL_LINK}/253/{_gln(company, document)}{serial}"


def _lgtin(uri: str) -> str:
    company, item, lot = _parts(uri, "urn:epc:class:lgtin:", 3)
    return f"{DIGITAL_LINK}/01/{_gtin(company, item)}/10/{lot}"


def _sgtin_pattern(uri: str) -> str:
    company, item, serial = _parts(uri, "urn:epc:idpat:sgtin:", 3)
    if serial != "*":
        raise UnsupportedEventField(f"{uri!r}: only a whole-class SGTIN pattern is supported")
    return f"{DIGITAL_LINK}/01/{_gtin(company, item)}"


_EPC_SCHEMES: dict[str, Callable[[str], str]] = {
    "urn:epc:id:sgtin:": _sgtin,
    "urn:epc:id:sscc:": _sscc,
    "urn:epc:id:sgln:": _sgln,
    "urn:epc:id:pgln:": _pgln,
    "urn:epc:id:gdti:": _gdti,
    "urn:epc:class:lgtin:": _lgtin,
    "urn:epc:idpat:sgtin:": _sgtin_pattern,
}


def canonical_uri(value: str, vocabulary: str | None = None) -> str:
    """An identifier or vocabulary value as it appears in the pre-hash string.

    ``vocabulary`` is the CBV term prefix of the field (``BizStep-``, ``Disp-``, ``BTT-``,
    ``SDT-``): a bare word in such a field is a CBV term.
    """
    text = value.strip()
    for urn, term in _CBV_URNS.items():
        if text.startswith(urn):
            return CBV_WEB + term + text[len(urn) :]
    if text.startswith("urn:epc:"):
        for prefix, convert in _EPC_SCHEMES.items():
            if text.startswith(prefix):
                return convert(text)
        raise UnsupportedEventField(f"EPC URI scheme of {text!r} is not supported")
    prefix, colon, rest = text.partition(":")
    if colon and prefix in STANDARD_CURIES and not rest.startswith("//"):
        return STANDARD_CURIES[prefix] + rest
    if vocabulary is not None and not colon:
        return CBV_WEB + vocabulary + text
    return text
