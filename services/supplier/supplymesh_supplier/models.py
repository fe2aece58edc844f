"""Wire models of the supplier node's ERP API (one pydantic model per message)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from supplymesh.core.numbers import DECIMAL_TEXT, EXACT, MAX_TEXT, NumberError, format_decimal, parse_decimal

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")]
DefectClassName = Literal["critical", "major", "minor"]
MAX_STANDARD_SECONDS = Decimal(10**9)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _decimal(value: object, what: str) -> Decimal:
    try:
        return parse_decimal(value, what=what)
    except NumberError as exc:
        raise ValueError(str(exc)) from exc


def _non_negative(value: object, what: str) -> str:
    number = _decimal(value, what)
    if number < 0:
        raise ValueError(f"{what} must not be negative")
    return format_decimal(number)


class ProfileIn(_Frozen):
    """The plant profile (SPEC §3); decimals as strings or JSON numbers."""

    machines: int = Field(ge=0, le=1_000_000, strict=True)
    hours_per_day: str = Field(description="Working hours per day, 0–24")
    baseline_efficiency: str = Field(description="Efficiency used until real runs exist, 0–1")
    queued_machine_hours: str = Field(description="Machine-hours queued for work from outside the network")
    products: list[Name] = Field(max_length=1000)

    @field_validator("hours_per_day", "baseline_efficiency", "queued_machine_hours", mode="before")
    @classmethod
    def _exact(cls, value: object, info: object) -> str:
        name = getattr(info, "field_name", "value")
        return _non_negative(value, name)

    @field_validator("hours_per_day")
    @classmethod
    def _hours(cls, value: str) -> str:
        if Decimal(value) > 24:
            raise ValueError("hours_per_day must be at most 24")
        return value

    @field_validator("baseline_efficiency")
    @classmethod
    def _efficiency(cls, value: str) -> str:
        if Decimal(value) > 1:
            raise ValueError("baseline_efficiency must be at most 1")
        return value

    @field_validator("products")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("products must be unique")
        return sorted(value)


class ProfileOut(ProfileIn):
    """The stored profile."""

    updated: str


class SensorIn(_Frozen):
    """A sensor bound to a process with its specification."""

    id: Name
    process: Name
    target: str
    tolerance: str
    defect_class: DefectClassName
    standard_seconds: str = Field(description="Standard process time in seconds (up to 6 decimals)")

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: object) -> str:
        return format_decimal(_decimal(value, "target"))

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tolerance(cls, value: object) -> str:
        return _non_negative(value, "tolerance")

    @field_validator("standard_seconds", mode="before")
    @classmethod
    def _standard(cls, value: object) -> str:
        text = _non_negative(value, "standard_seconds")
        number = Decimal(text)
        if not Decimal(0) < number <= MAX_STANDARD_SECONDS:
            raise ValueError(f"standard_seconds must be in (0, {MAX_STANDARD_SECONDS}]")
        if number != number.quantize(Decimal("0.000001"), context=EXACT):
            raise ValueError("standard_seconds has at most 6 decimals")
        return text


class SensorsIn(_Frozen):
    """A batch of sensors to register."""

    sensors: list[SensorIn] = Field(min_length=1, max_length=10_000)


class SensorsOut(BaseModel):
    """Registration result."""

    registered: int
    unchanged: int


class ReadingIn(_Frozen):
    """One reading from a sensor or an inspection station."""

    sensor_id: Name
    unit_id: Name
    order_id: Name
    value: Decimal = Field(description="Measured value: a decimal string (or JSON number)")
    start: datetime = Field(description="Process start, RFC 3339 with offset")
    end: datetime = Field(description="Process end, RFC 3339 with offset")

    @field_validator("value", mode="before")
    @classmethod
    def _decimal_text(cls, value: object) -> object:
        if isinstance(value, str) and (len(value) > MAX_TEXT or not DECIMAL_TEXT.match(value)):
            raise ValueError("value must be a plain decimal string")
        if isinstance(value, bool):
            raise ValueError("value must be a number")
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        # pydantic-core parses decimals natively (the hot path); only the range is ours.
        if not value.is_finite() or abs(value.adjusted()) > 30:
            raise ValueError("value is out of range")
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("times are RFC 3339 strings")
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("times need a UTC offset (RFC 3339)")
        return value


class ReadingsIn(_Frozen):
    """A batch of readings."""

    readings: list[ReadingIn] = Field(min_length=1, max_length=50_000)


class RejectedReading(BaseModel):
    """A reading refused by Algorithm 1, with the reason."""

    index: int
    sensor_id: str
    reason: str


class ReadingsOut(BaseModel):
    """Ingestion result: how many were recorded and which were rejected."""

    accepted: int
    approved: int
    issues: int
    rejected: list[RejectedReading]


class CapacityOut(BaseModel):
    """The supplier's current capacity (SPEC §4, appendix A)."""

    efficiency: str
    mhc_per_day: str
    queued_machine_hours: str
    open_network_hours: str
    products: list[str]
    computed_at: str


class OrderOut(BaseModel):
    """An order allocated to this supplier."""

    id: str
    buyer: str
    product: str
    quantity: int
    machine_hours: str
    escrow_id: str
    state: Literal["awaiting_funding", "funded", "completed", "refunded", "cancelled"]


class ProductionCompleteIn(_Frozen):
    """Production complete: produced quantity and, optionally, defects per class."""

    produced_quantity: int = Field(ge=0, le=2**53 - 1, strict=True)
    defects: dict[DefectClassName, Annotated[int, Field(ge=0, le=2**53 - 1, strict=True)]] | None = None
    sample_size: int | None = Field(
        default=None,
        ge=1,
        le=2**53 - 1,
        strict=True,
        description=(
            "A sample inspection (ISO 2859-1 single sampling, normal inspection, level II): "
            "the number of units inspected; `defects` then count defects in that sample. It "
            "must be the sample the buyer's AQLs require for the produced lot (else 422)."
        ),
    )

    @model_validator(mode="after")
    def _counts_fit(self) -> Self:
        # The network's own rules for a report (supplymesh.core.vocabulary.bodies.ProductionReport),
        # checked here before anything is written to the channel.
        inspected = self.produced_quantity if self.sample_size is None else self.sample_size
        if self.sample_size is not None and self.sample_size > self.produced_quantity:
            raise ValueError("sample_size cannot exceed produced_quantity")
        if self.defects is not None and any(count > inspected for count in self.defects.values()):
            raise ValueError(f"a class counts more defective units than the {inspected} inspected")
        return self
