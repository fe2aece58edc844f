"""The network configuration: one public file that every member holds.

It lists the members (id, role, URL, Ed25519 public key, X25519 encryption key), the channels (one per OEM ×
supplier pair unless listed explicitly) and the quorum policies per decision kind.
It holds no secrets. Private keys never appear here (see :mod:`supplymesh.node.keys`).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from supplymesh.core.crypto import PublicKey, SignatureError
from supplymesh.core.recipients import EncryptionPublicKey, SealingError

MEMBER_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_FRACTION = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
CONFIG_VERSION = 1


class Role(StrEnum):
    """A member's role in the network."""

    SUPPLIER = "supplier"
    OEM = "oem"
    PDU = "pdu"
    AUDITOR = "auditor"


PARTNER_ROLES = frozenset({Role.SUPPLIER, Role.OEM})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Member(_Strict):
    """A network member, the key it signs with and the key channel keys are wrapped to.

    ``encryption_key`` (X25519, unpadded base64url) is optional in the file so that a
    config written before channel encryption still reads; a node refuses to start
    without its own, and ``supplymesh up`` on an existing state directory adds the
    missing ones (see docs/operations.md).
    """

    id: Annotated[str, Field(pattern=MEMBER_ID)]
    role: Annotated[Role, Field(strict=False)]
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+$")]
    public_key: str
    encryption_key: str | None = None

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        try:
            PublicKey.from_text(value)
        except SignatureError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("encryption_key")
    @classmethod
    def _enc_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                EncryptionPublicKey.from_text(value)
            except SealingError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @property
    def key(self) -> PublicKey:
        """The member's public key."""
        return PublicKey.from_text(self.public_key)

    @property
    def enc_key(self) -> EncryptionPublicKey:
        """The member's X25519 encryption key.

        Raises:
            MissingEncryptionKey: if the config names none for this member.
        """
        if self.encryption_key is None:
            raise MissingEncryptionKey(
                f"the network config has no encryption_key for {self.id}; run `supplymesh up` "
                "on the state directory (it adds the missing keys) or add it by hand"
            )
        return EncryptionPublicKey.from_text(self.encryption_key)


class MissingEncryptionKey(ValueError):
    """A member has no encryption key in the network config (a config from before encryption)."""


class Channel(_Strict):
    """A private channel between one OEM and one supplier."""

    oem: str
    supplier: str

    @property
    def id(self) -> str:
        """Ledger name ``channel:<oem-id>:<supplier-id>``."""
        return channel_ledger(self.oem, self.supplier)


class QuorumPolicy(_Strict):
    """Who must sign a decision: more than a fraction, or at least a count, of a set.

    ``of`` is ``"partners"`` (every supplier and OEM) or an explicit, non-empty list of
    distinct member ids, each a partner: the PDU and the auditor never count towards a
    quorum (checked by :class:`NetworkConfig`, which knows the members). Exactly one of
    ``more_than`` (a fraction such as ``"2/3"``) and ``at_least`` is set; ``at_least``
    may not exceed the number of members it counts.
    """

    of: str | list[str] = "partners"
    more_than: str | None = "2/3"
    at_least: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_least_alone(cls, data: object) -> object:
        # A file that names only at_least means exactly that (more_than is then unset).
        if isinstance(data, dict) and "at_least" in data and "more_than" not in data:
            return {**data, "more_than": None}
        return data

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.more_than is None) == (self.at_least is None):
            raise ValueError("set exactly one of more_than and at_least")
        if self.more_than is not None:
            match = _FRACTION.match(self.more_than)
            if not match or int(match[1]) >= int(match[2]):
                raise ValueError("more_than is a fraction below 1, like '2/3'")
        if self.at_least is not None and self.at_least < 1:
            raise ValueError("at_least must be ≥ 1")
        if isinstance(self.of, str) and self.of != "partners":
            raise ValueError("of is 'partners' or a list of member ids")
        if isinstance(self.of, list):
            if not self.of:
                raise ValueError("of lists no member: a quorum of nobody")
            if len(set(self.of)) != len(self.of):
                raise ValueError("of lists a member twice")
        return self


class QuorumPolicies(_Strict):
    """The default policy and overrides per decision kind."""

    default: QuorumPolicy = QuorumPolicy()
    kinds: dict[str, QuorumPolicy] = {}


class NetworkConfig(_Strict):
    """The whole public network description."""

    version: int = CONFIG_VERSION
    network: Annotated[str, Field(pattern=MEMBER_ID)] = "supplymesh-demo"
    members: list[Member]
    channels: list[Channel] | None = None
    quorum: QuorumPolicies = QuorumPolicies()
    deposit_window_seconds: Annotated[int, Field(ge=1)] = 7 * 24 * 3600
    """An allocation's escrow not funded within this window is cancelled (SPEC §6)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [m.id for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("member ids must be unique")
        keys = [m.public_key for m in self.members]
        if len(set(keys)) != len(keys):
            raise ValueError("each member needs its own key")
        enc_keys = [m.encryption_key for m in self.members if m.encryption_key is not None]
        if len(set(enc_keys)) != len(enc_keys):
            raise ValueError("each member needs its own encryption key")
        for role in (Role.PDU, Role.AUDITOR):
            if sum(m.role == role for m in self.members) != 1:
                raise ValueError(f"a network has exactly one {role} member")
        roles = {m.id: m.role for m in self.members}
        for channel in self.channels or []:
            if roles.get(channel.oem) != Role.OEM or roles.get(channel.supplier) != Role.SUPPLIER:
                raise ValueError(f"channel {channel.id} must join an oem and a supplier")
        self._check_quorum(roles)
        return self

    def _check_quorum(self, roles: dict[str, Role]) -> None:
        """Every policy counts only partners, and enough of them to be reachable."""
        partners = sum(role in PARTNER_ROLES for role in roles.values())
        policies = [("default", self.quorum.default)]
        policies += [(f"kinds.{kind}", policy) for kind, policy in self.quorum.kinds.items()]
        for where, policy in policies:
            size = partners
            if isinstance(policy.of, list):
                for member_id in policy.of:
                    role = roles.get(member_id)
                    if role is None:
                        raise ValueError(f"quorum policy {where} names {member_id!r}, not a member")
                    if role not in PARTNER_ROLES:
                        raise ValueError(
                            f"quorum policy {where} names {member_id!r}, the {role}: "
                            "a policy may name only partners (suppliers and OEMs)"
                        )
                size = len(policy.of)
            if policy.at_least is not None and policy.at_least > size:
                raise ValueError(
                    f"quorum policy {where} needs at_least {policy.at_least} signatures "
                    f"of {size} members: never reachable"
                )

    def member(self, member_id: str) -> Member:
        """The member with ``member_id``.

        Raises:
            KeyError: if there is none.
        """
        for member in self.members:
            if member.id == member_id:
                return member
        raise KeyError(member_id)

    def by_role(self, role: Role) -> list[Member]:
        """Members with ``role``, in file order."""
        return [m for m in self.members if m.role == role]

    @property
    def pdu(self) -> Member:
        """The PDU member."""
        return self.by_role(Role.PDU)[0]

    @property
    def auditor(self) -> Member:
        """The auditor member."""
        return self.by_role(Role.AUDITOR)[0]

    def partners(self) -> list[Member]:
        """Suppliers and OEMs."""
        return [m for m in self.members if m.role in PARTNER_ROLES]

    def all_channels(self) -> list[Channel]:
        """Listed channels, or one per OEM × supplier pair when none are listed."""
        if self.channels is not None:
            return list(self.channels)
        return [
            Channel(oem=o.id, supplier=s.id)
            for o in self.by_role(Role.OEM)
            for s in self.by_role(Role.SUPPLIER)
        ]

    def channel(self, ledger: str) -> Channel | None:
        """The channel whose ledger is named ``ledger``, if any."""
        return next((c for c in self.all_channels() if c.id == ledger), None)

    def channels_of(self, member_id: str) -> list[Channel]:
        """Channels ``member_id`` belongs to."""
        return [c for c in self.all_channels() if member_id in (c.oem, c.supplier)]

    def channel_readers(self, ledger: str) -> list[str]:
        """Who may read a channel's payloads: its two members and the auditor (SPEC §2)."""
        channel = self.channel(ledger)
        if channel is None:
            raise KeyError(ledger)
        return sorted({channel.oem, channel.supplier, self.auditor.id})

    def keys(self) -> dict[str, PublicKey]:
        """Public keys by member id."""
        return {m.id: m.key for m in self.members}

    def to_json(self) -> str:
        """Pretty JSON text of the file."""
        return self.model_dump_json(indent=2, exclude_none=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> NetworkConfig:
        """Read and validate a config file.

        Raises:
            ValueError: if the file is not valid JSON or not a valid config.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
        return cls.model_validate(raw, strict=False)


NETWORK_LEDGER = "network"


def channel_ledger(oem: str, supplier: str) -> str:
    """Name of the channel ledger between ``oem`` and ``supplier``."""
    return f"channel:{oem}:{supplier}"
