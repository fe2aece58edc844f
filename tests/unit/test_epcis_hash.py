"""The EPCIS Event Hash ID (GS1 CBV 2.0) against published vectors, and its canonical rules."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from supplymesh.audit.epcis_hash import (
    context_namespaces,
    event_hash_id,
    format_number,
    hash_id,
    normalise_time,
    prehash_string,
)
from supplymesh.audit.epcis_uris import UnsupportedEventField, canonical_uri

# The two events of the EPCIS 2.0 standard's worked example ``Example_9.6.1-ObjectEvent``
# (JSON/Example_9.6.1-ObjectEvent.jsonld in the gs1/EPCIS repository), in its JSON
# binding. Note the URN spelling of CBV values and a vendor extension on the second event.
EXAMPLE_9_6_1 = """
{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               {"example": "http://ns.example.com/epcis/"}],
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2005-07-11T11:30:47.0Z",
  "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "action": "OBSERVE",
     "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
     "disposition": "urn:epcglobal:cbv:disp:in_transit",
     "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
     "eventTime": "2005-04-03T20:33:31.116000-06:00", "eventTimeZoneOffset": "-06:00",
     "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
     "bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po",
                             "bizTransaction": "http://transaction.acme.com/po/12345678"}]},
    {"type": "ObjectEvent", "action": "OBSERVE",
     "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
     "disposition": "urn:epcglobal:cbv:disp:in_progress",
     "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
     "eventTime": "2005-04-04T20:33:31.116-06:00", "eventTimeZoneOffset": "-06:00",
     "readPoint": {"id": "urn:epc:id:sgln:0012345.11111.400"},
     "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
     "bizTransactionList": [
       {"type": "urn:epcglobal:cbv:btt:po", "bizTransaction": "http://transaction.acme.com/po/12345678"},
       {"type": "urn:epcglobal:cbv:btt:desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"}],
     "example:myField": "Example of a vendor/user extension"}
  ]}
}
"""

# Hash IDs of those two events as computed by the GS1 reference implementation of the
# algorithm (RalphTro/epcis-event-hash-generator) under the CBV 2.0 rules, as recorded in
# the OpenTraceability test suite (EventHashGeneratorTests, "Reference-implementation
# hashes for the two events in Example_9.6.1-ObjectEvent.jsonld"). The first pre-hash
# string is also listed verbatim as the canonical form in openepcis-event-hash-generator's
# test suite (EventHashPerformanceGuardTest).
EXPECTED_9_6_1 = [
    "ni:///sha-256;df6523665bc5e5803d6c7b84f5a04e103694d8220f2abc4f2c74310e89f31bc6?ver=CBV2.0",
    "ni:///sha-256;32547b2344d525ea60ab1b899d82a9011fd9c39bb26ed936e113066146f49941?ver=CBV2.0",
]
PREHASH_9_6_1_FIRST = (
    "eventType=ObjectEventeventTime=2005-04-04T02:33:31.116ZeventTimeZoneOffset=-06:00"
    "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
    "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPointid=https://id.gs1.org/414/0614141073467/254/1234"
    "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=http://transaction.acme.com/po/12345678"
)


def example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE_9_6_1, parse_float=Decimal)
    return document


def test_standard_example_events_hash_to_the_reference_values() -> None:
    document = example()
    namespaces = context_namespaces(document["@context"])
    events = document["epcisBody"]["eventList"]
    assert [event_hash_id(e, namespaces) for e in events] == EXPECTED_9_6_1
    assert prehash_string(events[0], namespaces) == PREHASH_9_6_1_FIRST
    assert prehash_string(events[1], namespaces).endswith(
        "{http://ns.example.com/epcis/}myField=Example of a vendor/user extension"
    )


def test_bare_words_and_urns_of_cbv_values_hash_alike() -> None:
    event = example()["epcisBody"]["eventList"][0]
    bare = {
        **event,
        "bizStep": "shipping",
        "disposition": "in_transit",
        "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}],
    }
    web = {
        **event,
        "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping",
        "disposition": "cbv:Disp-in_transit",
    }
    assert event_hash_id(bare) == event_hash_id(web) == EXPECTED_9_6_1[0]


def test_order_of_keys_and_of_list_elements_does_not_matter() -> None:
    document = example()
    namespaces = context_namespaces(document["@context"])
    event = document["epcisBody"]["eventList"][1]
    shuffled = dict(reversed(list(event.items())))
    shuffled["bizTransactionList"] = list(reversed(event["bizTransactionList"]))
    shuffled["bizTransactionList"][0] = dict(reversed(list(shuffled["bizTransactionList"][0].items())))
    assert event_hash_id(shuffled, namespaces) == EXPECTED_9_6_1[1]
    first = document["epcisBody"]["eventList"][0]
    swapped = {**first, "epcList": list(reversed(first["epcList"]))}
    assert event_hash_id(swapped) == EXPECTED_9_6_1[0]


def test_ignored_fields_and_whitespace() -> None:
    event = example()["epcisBody"]["eventList"][0]
    decorated = {
        **event,
        "eventID": "ni:///sha-256;00?ver=CBV2.0",
        "recordTime": "2030-01-01T00:00:00Z",
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "bizStep": "  shipping ",
    }
    assert event_hash_id(decorated) == EXPECTED_9_6_1[0]


def test_any_change_of_a_value_changes_the_hash() -> None:
    event = example()["epcisBody"]["eventList"][0]
    changes: list[dict[str, Any]] = [
        {"action": "ADD"},
        {"eventTime": "2005-04-03T20:33:31.117-06:00"},
        {"epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]},
        {
            "bizTransactionList": [
                {"type": "inv", "bizTransaction": "http://transaction.acme.com/po/12345678"}
            ]
        },
    ]
    for change in changes:
        assert event_hash_id({**event, **change}) != EXPECTED_9_6_1[0], change
    assert event_hash_id({k: v for k, v in event.items() if k != "disposition"}) != EXPECTED_9_6_1[0]


def test_times_go_to_utc_milliseconds_rounding_on_the_fourth_decimal() -> None:
    assert normalise_time("2005-04-03T20:33:31.116000-06:00") == "2005-04-04T02:33:31.116Z"
    assert normalise_time("2005-04-03T20:33:31-06:00") == "2005-04-04T02:33:31.000Z"
    # the CBV's own example of the rounding rule
    assert normalise_time("2023-01-18T11:04:03.1415Z") == "2023-01-18T11:04:03.142Z"
    assert normalise_time("2023-01-18T11:04:03.1414999Z") == "2023-01-18T11:04:03.141Z"
    assert normalise_time("2023-12-31T23:59:59.9996Z") == "2024-01-01T00:00:00.000Z"
    with pytest.raises(UnsupportedEventField):
        normalise_time("2023-01-18T11:04:03")  # no offset


def test_numbers_without_trailing_zeros_and_no_floats() -> None:
    assert format_number(1) == "1"
    assert format_number(Decimal("1.0")) == "1"
    assert format_number(Decimal("0.34340")) == "0.3434"
    assert format_number(Decimal("1E+3")) == "1000"
    with pytest.raises(UnsupportedEventField):
        format_number(1.5)
    with pytest.raises(UnsupportedEventField):
        format_number(True)


def test_epc_uris_become_canonical_digital_link() -> None:
    # SSCC and SGLN values from the CBV 2.0 reference example 1 of the algorithm
    # (RalphTro/epcis-event-hash-generator, issue 88: the confirmed pre-hash string).
    assert canonical_uri("urn:epc:id:sscc:4012345.0000000111") == "https://id.gs1.org/00/040123450000001112"
    assert (
        canonical_uri("urn:epc:id:sgln:4012345.00011.987") == "https://id.gs1.org/414/4012345000115/254/987"
    )
    assert canonical_uri("urn:epc:id:sgln:0012345.11111.0") == "https://id.gs1.org/414/0012345111112"
    assert canonical_uri("urn:epc:class:lgtin:4012345.012345.998877") == (
        "https://id.gs1.org/01/04012345123456/10/998877"
    )
    assert canonical_uri("urn:epc:id:gdti:4012345.55555.1234") == "https://id.gs1.org/253/40123455555541234"
    assert canonical_uri("urn:epc:idpat:sgtin:4012345.066666.*") == "https://id.gs1.org/01/04012345666663"
    assert canonical_uri("urn:supplymesh:party:oem-a") == "urn:supplymesh:party:oem-a"
    with pytest.raises(UnsupportedEventField):
        canonical_uri("urn:epc:id:giai:4000001.111")


def test_quantity_lists_and_extensions_sort_their_elements() -> None:
    event = {
        "type": "TransformationEvent",
        "eventTime": "2026-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "outputQuantityList": [
            {"epcClass": "urn:supplymesh:product:P-2", "quantity": 3},
            {"epcClass": "urn:supplymesh:product:P-1", "quantity": Decimal("2.50"), "uom": "KGM"},
        ],
        "ex:b": 2,
        "ex:a": {"ex:y": "1", "ex:x": ["3", "1"]},
    }
    assert prehash_string(event, {"ex": "https://ns.example/"}) == (
        "eventType=TransformationEventeventTime=2026-01-01T00:00:00.000ZeventTimeZoneOffset=+00:00"
        "outputQuantityListquantityElementepcClass=urn:supplymesh:product:P-1quantity=2.5uom=KGM"
        "quantityElementepcClass=urn:supplymesh:product:P-2quantity=3"
        "{https://ns.example/}a{https://ns.example/}x=1{https://ns.example/}x=3{https://ns.example/}y=1"
        "{https://ns.example/}b=2"
    )


def test_unsupported_fields_are_refused_not_hashed_wrongly() -> None:
    event = example()["epcisBody"]["eventList"][0]
    for field in ("ilmd", "sensorElementList", "errorDeclaration", "persistentDisposition"):
        with pytest.raises(UnsupportedEventField):
            prehash_string({**event, field: {}})
    with pytest.raises(UnsupportedEventField):
        prehash_string({**event, "unknown:field": "x"})  # prefix not declared
    with pytest.raises(UnsupportedEventField):
        prehash_string({**event, "type": "EPCISDocument"})


def test_hash_is_deterministic_and_the_input_untouched() -> None:
    event = example()["epcisBody"]["eventList"][1]
    before = copy.deepcopy(event)
    namespaces = {"example": "http://ns.example.com/epcis/"}
    assert event_hash_id(event, namespaces) == event_hash_id(event, namespaces)
    assert event == before
    assert hash_id("") == (
        "ni:///sha-256;e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855?ver=CBV2.0"
    )
