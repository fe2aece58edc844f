"""The supplier's DMS through its ERP API: profile, sensors, readings (Algorithm 1), capacity.

SPEC §3 (DMS), §4 (capacity attestation figures), §10 (exact numbers) and appendix A.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from supplymesh.config import channel_ledger
from supplymesh.storage.engine import read_transaction
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.tables import dms_readings
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]


@pytest.fixture(autouse=True)
def _channel_members_started(harness: Harness) -> None:
    """Start supplier-a and its OEMs before any peer request is signed.

    The harness starts a node lazily on the first request routed to it; a node refuses a
    peer request signed before it started, so a counterpart started by the very request
    that asks for its countersignature could refuse it at a second boundary.
    """
    for node_id in ("supplier-a", "oem-a", "oem-b"):
        harness.app(node_id)


PROFILE_A: dict[str, Any] = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
PROFILE_B: dict[str, Any] = {
    "machines": 5,
    "hours_per_day": "8",
    "baseline_efficiency": "0.9",
    "queued_machine_hours": "20",
    "products": ["P-100"],
}
# A fixed "now" for the supplier node, so that the 30-day window is deterministic.
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` and return its document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


def sensor(sensor_id: str, **spec: Any) -> dict[str, Any]:
    """A sensor registration with defaults: target 0.3 ± 0.1, major, 60 s standard time."""
    return {
        "id": sensor_id,
        "process": "drill",
        "target": "0.3",
        "tolerance": "0.1",
        "defect_class": "major",
        "standard_seconds": "60",
        **spec,
    }


def reading(
    sensor_id: str,
    value: Any = "0.3",
    *,
    unit: str = "u-1",
    order: str = "ord-1",
    end: datetime = NOW - timedelta(hours=1),
    seconds: float = 75,
) -> dict[str, Any]:
    """A reading whose run ended at ``end`` and took ``seconds``."""
    start = end - timedelta(seconds=seconds)
    return {
        "sensor_id": sensor_id,
        "unit_id": unit,
        "order_id": order,
        "value": value,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def dms_of(harness: Harness) -> Dms:
    dms: Dms = harness.app("supplier-a").state.dms
    return dms


def stored_readings(harness: Harness) -> int:
    """Rows in supplier-a's dms_readings table."""
    with read_transaction(harness.node("supplier-a").engine) as conn:
        count = conn.execute(select(func.count()).select_from(dms_readings)).scalar_one()
    return int(count)


def fix_clock(harness: Harness, now: datetime = NOW) -> None:
    harness.node("supplier-a").clock = lambda: now


async def put_profile(client: httpx.AsyncClient, profile: dict[str, Any]) -> None:
    response = await client.put("/v1/dms/profile", json=profile)
    assert response.status_code == 200, response.text


async def register(client: httpx.AsyncClient, *sensors: dict[str, Any]) -> None:
    response = await client.post("/v1/dms/sensors", json={"sensors": list(sensors)})
    assert response.status_code == 201, response.text


async def ingest(client: httpx.AsyncClient, *readings: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/dms/readings", json={"readings": list(readings)})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def capacity(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/capacity")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- plant profile and capacity ---------------------------------------------------------------


async def test_capacity_before_any_profile_is_404_problem(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    problem(await client.get("/v1/capacity"), 404)
    problem(await client.get("/v1/dms/profile"), 404)


async def test_supplier_a_profile_gives_spec_capacity_and_round_trips(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    put = await client.put("/v1/dms/profile", json=PROFILE_A)
    assert put.status_code == 200
    stored = (await client.get("/v1/dms/profile")).json()
    assert {k: v for k, v in stored.items() if k != "updated"} == PROFILE_A
    assert put.json() == stored
    current = await capacity(client)
    assert current["efficiency"] == "0.8"
    assert current["mhc_per_day"] == "51.2"
    assert current["queued_machine_hours"] == "100"
    assert current["open_network_hours"] == "0"
    assert current["computed_at"]


async def test_supplier_b_profile_gives_mhc_36(harness: Harness) -> None:
    client = harness.erp("supplier-b")
    await put_profile(client, PROFILE_B)
    current = await capacity(client)
    assert (current["efficiency"], current["mhc_per_day"], current["queued_machine_hours"]) == (
        "0.9",
        "36",
        "20",
    )
    assert current["open_network_hours"] == "0"


async def test_json_numbers_in_profile_are_normalised_to_decimal_strings(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    raw = (
        b'{"machines": 4, "hours_per_day": 16, "baseline_efficiency": 0.10,'
        b' "queued_machine_hours": 100.50, "products": ["P-200", "P-100"]}'
    )
    response = await client.put("/v1/dms/profile", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    stored = (await client.get("/v1/dms/profile")).json()
    assert stored["hours_per_day"] == "16"
    assert stored["baseline_efficiency"] == "0.1"
    assert stored["queued_machine_hours"] == "100.5"
    assert sorted(stored["products"]) == ["P-100", "P-200"]
    current = await capacity(client)
    assert (current["efficiency"], current["mhc_per_day"], current["queued_machine_hours"]) == (
        "0.1",
        "6.4",
        "100.5",
    )
    trailing = {**PROFILE_A, "hours_per_day": "16.000", "baseline_efficiency": "0.80"}
    await put_profile(client, trailing)
    stored = (await client.get("/v1/dms/profile")).json()
    assert (stored["hours_per_day"], stored["baseline_efficiency"]) == ("16", "0.8")


def _raw_profile(**fields: str) -> bytes:
    """PROFILE_A as JSON text with some fields replaced by raw JSON tokens (NaN, 1e400, …)."""
    parts = [f'"{k}": {fields[k] if k in fields else json.dumps(v)}' for k, v in PROFILE_A.items()]
    parts += [f'"{k}": {v}' for k, v in fields.items() if k not in PROFILE_A]
    return ("{" + ", ".join(parts) + "}").encode()


INVALID_PROFILES = {
    "negative machines": _raw_profile(machines="-1"),
    "fractional machines": _raw_profile(machines="4.5"),
    "hours_per_day 25": _raw_profile(hours_per_day='"25"'),
    "hours_per_day just over 24": _raw_profile(hours_per_day="24.000001"),
    "negative hours_per_day": _raw_profile(hours_per_day='"-1"'),
    "baseline_efficiency 1.5": _raw_profile(baseline_efficiency='"1.5"'),
    "baseline_efficiency abc": _raw_profile(baseline_efficiency='"abc"'),
    "queued hours 1e400 text": _raw_profile(queued_machine_hours='"1e400"'),
    "queued hours 1e400 number": _raw_profile(queued_machine_hours="1e400"),
    "queued hours NaN number": _raw_profile(queued_machine_hours="NaN"),
    "queued hours NaN text": _raw_profile(queued_machine_hours='"NaN"'),
    "queued hours Infinity text": _raw_profile(queued_machine_hours='"Infinity"'),
    "negative queued hours": _raw_profile(queued_machine_hours='"-0.5"'),
    "boolean hours_per_day": _raw_profile(hours_per_day="true"),
    "boolean baseline_efficiency": _raw_profile(baseline_efficiency="false"),
    "padded decimal text": _raw_profile(hours_per_day='" 16"'),
    "duplicate products": _raw_profile(products='["P-100", "P-100"]'),
    "unknown extra field": _raw_profile(factory='"north"'),
    "missing field": json.dumps({k: v for k, v in PROFILE_A.items() if k != "machines"}).encode(),
}


async def _refused_profiles(harness: Harness, cases: dict[str, bytes]) -> list[str]:
    """PUT every case; return how each case that was not a 422 problem was answered."""
    client = harness.erp("supplier-a")
    wrong = []
    for name, body in cases.items():
        response = await client.put(
            "/v1/dms/profile", content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code != 422 or response.headers["content-type"] != PROBLEM:
            wrong.append(f"{name}: HTTP {response.status_code} {response.text[:120]}")
    return wrong


async def _nothing_stored(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    problem(await client.get("/v1/dms/profile"), 404)
    problem(await client.get("/v1/capacity"), 404)
    entries = await client.get(f"/v1/ledgers/{channel_ledger('oem-a', 'supplier-a')}/entries")
    assert entries.status_code == 404 or entries.json() == []


async def test_invalid_profiles_are_422_and_nothing_is_stored(harness: Harness) -> None:
    wrong = await _refused_profiles(harness, INVALID_PROFILES)
    assert not wrong, "\n".join(wrong)
    await _nothing_stored(harness)


async def test_boolean_or_text_machine_count_is_422_and_nothing_is_stored(harness: Harness) -> None:
    """Integers are JSON integers on the wire (SPEC §10): true is not 1 machine, "4" is not 4."""
    cases = {
        "boolean machines": _raw_profile(machines="true"),
        "machines as text": _raw_profile(machines='"4"'),
    }
    wrong = await _refused_profiles(harness, cases)
    assert not wrong, "\n".join(wrong)
    await _nothing_stored(harness)


async def test_decimal_text_with_underscores_or_non_ascii_digits_is_422(harness: Harness) -> None:
    """Decimal strings are ASCII digits (SPEC §10), not whatever Python's Decimal() accepts."""
    junk = {"underscore": "1_6", "arabic-indic digits": "\u0661\u0666", "fullwidth digits": "\uff11\uff16"}
    client = harness.erp("supplier-a")
    wrong = []
    for index, (name, text) in enumerate(junk.items()):
        put = await client.put("/v1/dms/profile", json={**PROFILE_A, "hours_per_day": text})
        if put.status_code != 422:
            wrong.append(f"profile hours_per_day {name}: HTTP {put.status_code} {put.text[:80]}")
        registered = await client.post(
            "/v1/dms/sensors", json={"sensors": [sensor(f"s-{index}", target=text)]}
        )
        if registered.status_code != 422:
            wrong.append(f"sensor target {name}: HTTP {registered.status_code} {registered.text[:80]}")
    assert not wrong, "\n".join(wrong)


async def test_invalid_profile_does_not_replace_the_stored_one(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await put_profile(client, PROFILE_A)
    before = (await client.get("/v1/dms/profile")).json()
    problem(await client.put("/v1/dms/profile", json={**PROFILE_A, "baseline_efficiency": "1.5"}), 422)
    assert (await client.get("/v1/dms/profile")).json() == before
    assert (await capacity(client))["mhc_per_day"] == "51.2"


# -- sensors ------------------------------------------------------------------------------------


async def test_reregistering_the_same_sensor_spec_is_unchanged(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    first = await client.post("/v1/dms/sensors", json={"sensors": [sensor("s-1"), sensor("s-2")]})
    assert first.status_code == 201 and first.json() == {"registered": 2, "unchanged": 0}
    again = await client.post("/v1/dms/sensors", json={"sensors": [sensor("s-1"), sensor("s-3")]})
    assert again.status_code == 201 and again.json() == {"registered": 1, "unchanged": 1}
    # The same specification written differently (JSON numbers, trailing zeros) is the same spec.
    same = sensor("s-1", target=0.3, tolerance="0.10", standard_seconds=60)
    written_differently = await client.post("/v1/dms/sensors", json={"sensors": [same]})
    assert written_differently.status_code == 201
    assert written_differently.json() == {"registered": 0, "unchanged": 1}
    listed = (await client.get("/v1/dms/sensors")).json()
    assert [s["id"] for s in listed] == ["s-1", "s-2", "s-3"]


async def test_same_sensor_id_with_another_spec_is_409_and_keeps_the_first(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    for change in ({"tolerance": "0.2"}, {"defect_class": "minor"}, {"standard_seconds": "61"}):
        response = await client.post("/v1/dms/sensors", json={"sensors": [sensor("s-1", **change)]})
        problem(response, 409)
    # A batch that conflicts registers none of its other sensors either.
    mixed = await client.post("/v1/dms/sensors", json={"sensors": [sensor("s-2"), sensor("s-1", target="1")]})
    problem(mixed, 409)
    listed = (await client.get("/v1/dms/sensors")).json()
    assert listed == [
        {
            "id": "s-1",
            "process": "drill",
            "target": "0.3",
            "tolerance": "0.1",
            "defect_class": "major",
            "standard_seconds": "60",
        }
    ]


INVALID_SENSORS: dict[str, dict[str, Any]] = {
    "unknown defect class": {"defect_class": "cosmetic"},
    "negative tolerance": {"tolerance": "-0.1"},
    "standard_seconds 0": {"standard_seconds": "0"},
    "standard_seconds negative": {"standard_seconds": "-60"},
    "standard_seconds with 7 decimals": {"standard_seconds": "1.0000001"},
    "target not a number": {"target": "abc"},
    "boolean target": {"target": True},
    "unknown field": {"unit": "mm"},
}


async def test_invalid_sensors_are_422_and_their_batch_registers_nothing(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    wrong = []
    for name, change in INVALID_SENSORS.items():
        batch = {"sensors": [sensor("s-ok"), sensor("s-bad", **change)]}
        response = await client.post("/v1/dms/sensors", json=batch)
        if response.status_code != 422 or response.headers["content-type"] != PROBLEM:
            wrong.append(f"{name}: HTTP {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
    assert (await client.get("/v1/dms/sensors")).json() == []


async def test_standard_seconds_with_six_decimals_is_accepted(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1", standard_seconds="1.000001"))
    assert (await client.get("/v1/dms/sensors")).json()[0]["standard_seconds"] == "1.000001"


async def test_sensor_list_is_paginated_with_link_header(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, *(sensor(f"s-{n}") for n in range(5)))
    first = await client.get("/v1/dms/sensors", params={"limit": 2})
    assert [s["id"] for s in first.json()] == ["s-0", "s-1"]
    link = first.headers["link"]
    assert link.endswith('rel="next"') and "after=s-1" in link
    second = await client.get(link[1 : link.index(">")])
    assert [s["id"] for s in second.json()] == ["s-2", "s-3"]
    last = await client.get("/v1/dms/sensors", params={"after": "s-3", "limit": 2})
    assert [s["id"] for s in last.json()] == ["s-4"]
    assert "link" not in last.headers
    problem(await client.get("/v1/dms/sensors", params={"limit": 0}), 422)


# -- readings (Algorithm 1) -------------------------------------------------------------------


async def test_readings_from_unregistered_sensors_are_rejected_one_by_one(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    result = await ingest(
        client,
        reading("ghost", unit="u-0"),
        reading("s-1", "0.3", unit="u-1"),
        reading("s-1", "0.9", unit="u-2"),
        reading("s-404", unit="u-3"),
        reading("s-1", "0.25", unit="u-4"),
    )
    assert (result["accepted"], result["approved"], result["issues"]) == (3, 2, 1)
    rejected = result["rejected"]
    assert [(r["index"], r["sensor_id"]) for r in rejected] == [(0, "ghost"), (3, "s-404")]
    assert all("not registered" in r["reason"] for r in rejected)
    assert stored_readings(harness) == 3
    units, defects = dms_of(harness).lot_quality("ord-1")
    assert units == 3 and defects == {"critical": 0, "major": 1, "minor": 0}


async def test_values_exactly_at_target_plus_minus_tolerance_are_approved(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(
        client,
        sensor("s-03", target="0.3", tolerance="0.1"),
        sensor("s-07", target="0.7", tolerance="0.1"),
    )
    # In binary floats 0.7 + 0.1 is 0.7999999999999999: a float check would call 0.8 an issue.
    assert not 0.8 <= 0.7 + 0.1
    cases = [
        ("s-03", "0.4", True),
        ("s-03", "0.2", True),
        ("s-03", 0.4, True),
        ("s-03", "0.3", True),
        ("s-03", "0.4000001", False),
        ("s-03", "0.1999999", False),
        ("s-07", "0.8", True),
        ("s-07", 0.8, True),
        ("s-07", "0.6", True),
        ("s-07", "0.8000001", False),
        ("s-07", "0.5999999", False),
        ("s-07", "-0.8", False),
    ]
    for index, (sensor_id, value, approved) in enumerate(cases):
        result = await ingest(client, reading(sensor_id, value, unit=f"u-{index}", order=f"o-{index}"))
        assert result["rejected"] == [], (sensor_id, value)
        assert (result["approved"], result["issues"]) == ((1, 0) if approved else (0, 1)), (sensor_id, value)
        _, defects = dms_of(harness).lot_quality(f"o-{index}")
        assert defects["major"] == (0 if approved else 1), (sensor_id, value)


async def test_bounds_with_more_than_28_significant_digits_are_compared_exactly(harness: Harness) -> None:
    """Exact arithmetic (SPEC §10) also beyond Python's default 28-digit decimal context."""
    client = harness.erp("supplier-a")
    await register(client, sensor("s-fine", target="1000000", tolerance="0.0000000000000000000000001"))
    cases = [
        ("1000000.0000000000000000000000001", True),  # target + tolerance exactly
        ("999999.9999999999999999999999999", True),  # target − tolerance exactly
        ("1000000", True),
        ("1000000.0000000000000000000000002", False),
        ("999999.9999999999999999999999998", False),
    ]
    wrong = []
    for index, (value, approved) in enumerate(cases):
        result = await ingest(client, reading("s-fine", value, unit=f"u-{index}"))
        if (result["approved"], result["issues"]) != ((1, 0) if approved else (0, 1)):
            wrong.append(f"{value}: {'approved' if result['approved'] else 'issue'}")
    assert not wrong, "\n".join(wrong)


async def test_reading_that_ends_before_it_starts_is_rejected_with_reason(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    backwards = reading("s-1", unit="u-2")
    backwards["start"], backwards["end"] = backwards["end"], backwards["start"]
    result = await ingest(client, reading("s-1", unit="u-1"), backwards)
    assert result["accepted"] == 1
    assert len(result["rejected"]) == 1
    rejection = result["rejected"][0]
    assert (rejection["index"], rejection["sensor_id"]) == (1, "s-1")
    assert "before" in rejection["reason"] and "start" in rejection["reason"]
    assert stored_readings(harness) == 1


async def test_time_without_offset_rejects_whole_batch_and_records_nothing(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    naive = reading("s-1", unit="u-2")
    naive["end"] = "2026-02-28T11:00:00"
    response = await client.post("/v1/dms/readings", json={"readings": [reading("s-1", unit="u-1"), naive]})
    document = problem(response, 422)
    assert "readings" in json.dumps(document)
    assert stored_readings(harness) == 0


async def test_time_given_as_a_unix_number_is_422(harness: Harness) -> None:
    """Times are RFC 3339 text (SPEC §3); a bare number is not a time with an offset."""
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    numeric = reading("s-1")
    numeric["start"] = int((NOW - timedelta(hours=2)).timestamp())
    problem(await client.post("/v1/dms/readings", json={"readings": [numeric]}), 422)
    assert stored_readings(harness) == 0


INVALID_VALUES = {
    "boolean": "true",
    "null": "null",
    "NaN number": "NaN",
    "NaN text": '"NaN"',
    "1e400 number": "1e400",
    "1e400 text": '"1e400"',
    "letters": '"abc"',
    "empty text": '""',
    "digit group underscore": '"1_0"',
    "non-ASCII digit": '"\u0663"',
    "padded text": '" 0.3"',
}


async def test_invalid_reading_values_reject_the_whole_batch(harness: Harness) -> None:
    """A value is a decimal string or JSON number (SPEC §10), parsed as strictly as profile figures."""
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    good = json.dumps(reading("s-1", unit="u-1"))
    wrong = []
    for name, token in INVALID_VALUES.items():
        bad = json.dumps(reading("s-1", "@", unit="u-2")).replace('"@"', token)
        body = f'{{"readings": [{good}, {bad}]}}'.encode()
        response = await client.post(
            "/v1/dms/readings", content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code != 422 or response.headers["content-type"] != PROBLEM:
            wrong.append(f"{name}: HTTP {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
    assert stored_readings(harness) == 0


async def test_times_with_other_offsets_are_compared_as_instants(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-1"))
    # 12:58:45+02:00 is 10:58:45Z: the run took 75 s although the wall-clock texts differ.
    shifted = {
        **reading("s-1"),
        "start": "2026-03-01T12:58:45+02:00",
        "end": "2026-03-01T11:00:00Z",
    }
    result = await ingest(client, shifted)
    assert result["accepted"] == 1 and result["rejected"] == []
    assert (await capacity(client))["efficiency"] == "0.8"


def lenient(harness: Harness) -> httpx.AsyncClient:
    """An ERP client of supplier-a that returns server errors as responses instead of raising."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app("supplier-a"), raise_app_exceptions=False),
        base_url=harness.config.member("supplier-a").url,
        headers={"Authorization": f"Bearer {harness.token('supplier-a')}"},
    )


async def test_decimals_longer_than_40_characters_are_stored_exactly_or_refused(harness: Harness) -> None:
    """A long but finite decimal is either kept exactly or refused with 422: never a server error."""
    long_hours = "100." + "0" * 40 + "1"
    long_target = "0.3" + "0" * 40 + "1"
    wrong = []
    async with lenient(harness) as client:
        put = await client.put("/v1/dms/profile", json={**PROFILE_A, "queued_machine_hours": long_hours})
        if put.status_code == 200:
            stored = (await client.get("/v1/dms/profile")).json()["queued_machine_hours"]
            if stored != long_hours:
                wrong.append(f"profile stored {stored}")
        elif put.status_code != 422:
            wrong.append(f"profile: HTTP {put.status_code}")
        registered = await client.post(
            "/v1/dms/sensors", json={"sensors": [sensor("s-long", target=long_target)]}
        )
        if registered.status_code == 201:
            listed = (await client.get("/v1/dms/sensors")).json()
            if listed[0]["target"] != long_target:
                wrong.append(f"sensor target stored {listed[0]['target']}")
        elif registered.status_code != 422:
            wrong.append(f"sensor: HTTP {registered.status_code}")
        await register(client, sensor("s-1"))
        ingested = await client.post("/v1/dms/readings", json={"readings": [reading("s-1", long_target)]})
        if ingested.status_code == 200:
            if ingested.json()["approved"] != 1:
                wrong.append(f"reading judged {ingested.json()}")
        elif ingested.status_code != 422:
            wrong.append(f"reading: HTTP {ingested.status_code}")
    assert not wrong, "\n".join(wrong)


async def test_standard_times_too_large_to_store_never_cause_a_server_error(harness: Harness) -> None:
    """Refused at registration (422), or registered and then ingested: never a 500."""
    wrong = []
    async with lenient(harness) as client:
        for index, standard in enumerate(("10000000000000000000000", "10000000000000")):
            sensor_id = f"s-huge-{index}"
            response = await client.post(
                "/v1/dms/sensors", json={"sensors": [sensor(sensor_id, standard_seconds=standard)]}
            )
            if response.status_code == 201:
                ingested = await client.post("/v1/dms/readings", json={"readings": [reading(sensor_id)]})
                if ingested.status_code not in (200, 422):
                    wrong.append(f"{standard}: registered, then readings got HTTP {ingested.status_code}")
            elif response.status_code != 422:
                wrong.append(f"{standard}: registration got HTTP {response.status_code}")
    assert not wrong, "\n".join(wrong)


# -- efficiency from runs (Algorithm 2 inputs) -------------------------------------------------


async def test_runs_of_75s_against_60s_standard_give_efficiency_0_8(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    before = await capacity(client)
    assert (before["efficiency"], before["mhc_per_day"]) == ("0.5", "32")
    await register(client, sensor("s-1", standard_seconds="60"))
    await ingest(client, *(reading("s-1", unit=f"u-{n}", seconds=75) for n in range(3)))
    after = await capacity(client)
    assert after["efficiency"] == "0.8"
    assert after["mhc_per_day"] == "51.2"  # 0.8 × 4 machines × 16 h
    assert after["queued_machine_hours"] == "100"


async def test_efficiency_sums_standard_and_actual_times_over_all_runs(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-60", standard_seconds="60"), sensor("s-30", standard_seconds="30"))
    # (60 + 30) / (100 + 50) = 0.6; the mean of the ratios would be 0.6 too, so add an uneven run:
    # (60 + 30 + 30) / (100 + 50 + 10) = 0.75, while the mean of ratios would be about 1.2.
    await ingest(
        client,
        reading("s-60", unit="u-1", seconds=100),
        reading("s-30", unit="u-2", seconds=50),
        reading("s-30", unit="u-3", seconds=10),
    )
    current = await capacity(client)
    assert (current["efficiency"], current["mhc_per_day"]) == ("0.75", "48")


async def test_runs_faster_than_standard_clamp_efficiency_to_1(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-1", standard_seconds="60"))
    await ingest(client, *(reading("s-1", unit=f"u-{n}", seconds=30) for n in range(2)))
    current = await capacity(client)
    assert current["efficiency"] == "1"
    assert current["mhc_per_day"] == "64"


@pytest.mark.parametrize(
    ("standard", "actual_seconds", "efficiency", "mhc"),
    [
        ("1", 3, "0.333333", "21.333312"),
        # 1.234565 / 10 = 0.1234565: a tie, half-even keeps the even 6 (half-up would give 0.123457).
        ("1.234565", 10, "0.123456", "7.901184"),
        # 1.234575 / 10 = 0.1234575: a tie, half-even goes to the even 8 (truncation would give 0.123457).
        ("1.234575", 10, "0.123458", "7.901312"),
    ],
    ids=["one-third", "tie-rounds-down-to-even", "tie-rounds-up-to-even"],
)
async def test_efficiency_is_written_to_six_places_half_even(
    harness: Harness, standard: str, actual_seconds: int, efficiency: str, mhc: str
) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, PROFILE_A)
    await register(client, sensor("s-1", standard_seconds=standard))
    await ingest(client, reading("s-1", seconds=actual_seconds))
    current = await capacity(client)
    assert current["efficiency"] == efficiency
    assert current["mhc_per_day"] == mhc  # from the written E: E × 4 × 16


async def test_runs_older_than_30_days_are_ignored(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-1", standard_seconds="60"))
    await ingest(
        client,
        reading("s-1", unit="u-old", end=NOW - timedelta(days=31), seconds=30),  # would clamp E to 1
        reading("s-1", unit="u-new", end=NOW - timedelta(days=29), seconds=75),
    )
    assert (await capacity(client))["efficiency"] == "0.8"
    # Two days later the recent run is 31 days old as well: back to the baseline.
    fix_clock(harness, NOW + timedelta(days=2))
    later = await capacity(client)
    assert (later["efficiency"], later["mhc_per_day"]) == ("0.5", "32")


async def test_only_old_runs_leave_the_baseline_efficiency(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, PROFILE_A)
    await register(client, sensor("s-1", standard_seconds="60"))
    await ingest(client, reading("s-1", end=NOW - timedelta(days=30, seconds=1), seconds=600))
    current = await capacity(client)
    assert (current["efficiency"], current["mhc_per_day"]) == ("0.8", "51.2")


# -- lot quality from the DMS -------------------------------------------------------------------


async def test_lot_quality_counts_distinct_units_per_defect_class(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(
        client,
        sensor("s-crit", defect_class="critical"),
        sensor("s-major", defect_class="major"),
        sensor("s-major-2", defect_class="major", process="mill"),
        sensor("s-minor", defect_class="minor"),
    )
    bad, good = "0.9", "0.3"
    await ingest(
        client,
        # u-1: two major issues (two sensors, and one sensor twice) → one defective unit of major.
        reading("s-major", bad, unit="u-1"),
        reading("s-major", bad, unit="u-1"),
        reading("s-major-2", bad, unit="u-1"),
        # u-2: a major and a minor issue → counted once in each class.
        reading("s-major", bad, unit="u-2"),
        reading("s-minor", bad, unit="u-2"),
        # u-3: approved everywhere.
        reading("s-major", good, unit="u-3"),
        reading("s-crit", good, unit="u-3"),
        # u-4: approved once, then a critical issue.
        reading("s-major", good, unit="u-4"),
        reading("s-crit", bad, unit="u-4"),
        # Another order's issues are not this lot's.
        reading("s-crit", bad, unit="u-9", order="ord-2"),
        reading("s-minor", bad, unit="u-9", order="ord-2"),
    )
    units, defects = dms_of(harness).lot_quality("ord-1")
    assert units == 4
    assert defects == {"critical": 1, "major": 2, "minor": 1}
    assert dms_of(harness).lot_quality("ord-2") == (1, {"critical": 1, "major": 0, "minor": 1})
    assert dms_of(harness).lot_quality("ord-none") == (0, {"critical": 0, "major": 0, "minor": 0})


# -- Idempotency-Key on readings -----------------------------------------------------------------


async def test_readings_retried_with_the_same_idempotency_key_are_recorded_once(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-1"))
    batch = {"readings": [reading("s-1", "0.9", unit="u-1"), reading("s-1", unit="u-2"), reading("ghost")]}
    headers = {"Idempotency-Key": "batch-0001"}
    first = await client.post("/v1/dms/readings", json=batch, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post("/v1/dms/readings", json=batch, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert stored_readings(harness) == 2
    assert dms_of(harness).lot_quality("ord-1") == (2, {"critical": 0, "major": 1, "minor": 0})
    assert (await capacity(client))["efficiency"] == "0.8"


async def test_same_idempotency_key_with_different_readings_is_422(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    await register(client, sensor("s-1"))
    headers = {"Idempotency-Key": "batch-0002"}
    first = await client.post("/v1/dms/readings", json={"readings": [reading("s-1")]}, headers=headers)
    assert first.status_code == 200
    other = await client.post(
        "/v1/dms/readings", json={"readings": [reading("s-1", "0.9", unit="u-7")]}, headers=headers
    )
    problem(other, 422)
    assert stored_readings(harness) == 1
    assert dms_of(harness).lot_quality("ord-1") == (1, {"critical": 0, "major": 0, "minor": 0})


# -- batches ----------------------------------------------------------------------------------


async def test_batch_of_5000_readings_is_accepted(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    fix_clock(harness)
    await put_profile(client, {**PROFILE_A, "baseline_efficiency": "0.5"})
    await register(client, sensor("s-1"))
    readings = [
        reading("s-1", "0.9" if n % 10 == 0 else "0.3", unit=f"u-{n:05d}", order="ord-big")
        for n in range(5000)
    ]
    response = await client.post("/v1/dms/readings", json={"readings": readings}, timeout=120)
    assert response.status_code == 200, response.text[:500]
    result = response.json()
    assert (result["accepted"], result["approved"], result["issues"], result["rejected"]) == (
        5000,
        4500,
        500,
        [],
    )
    assert stored_readings(harness) == 5000
    assert dms_of(harness).lot_quality("ord-big") == (5000, {"critical": 0, "major": 500, "minor": 0})
    assert (await capacity(client))["efficiency"] == "0.8"


async def test_dms_endpoints_need_an_erp_token(harness: Harness) -> None:
    anonymous = harness.anonymous("supplier-a")
    assert (await anonymous.put("/v1/dms/profile", json=PROFILE_A)).status_code == 401
    assert (await anonymous.post("/v1/dms/readings", json={"readings": [reading("s-1")]})).status_code == 401
    assert (await anonymous.get("/v1/capacity")).status_code == 401
    problem(await harness.erp("supplier-a").get("/v1/dms/profile"), 404)
