"""Which party actions the PDU sequences: the network's own admission rules, as HTTP problems.

The rules are :func:`supplymesh.core.contracts.admission.admit`, the same function every
partner's fold applies to a sequenced entry, so a PDU that sequenced an inadmissible
action would gain the party nothing; refusing it here tells the party why at once, with
a 4xx problem (never a 5xx, whatever the body holds).
"""

from __future__ import annotations

from supplymesh.config import NetworkConfig, Role
from supplymesh.core.actions import Action
from supplymesh.core.contracts.admission import Refusal
from supplymesh.core.contracts.admission import admit as admit_action
from supplymesh.core.contracts.network import NetworkState
from supplymesh.errors import Conflict, NotFound, Unprocessable


def admit(config: NetworkConfig, state: NetworkState, action: Action) -> None:
    """Raise if ``action`` breaks a rule of the vocabulary or does not fit the network state.

    Raises:
        NotFound: the escrow or offer it names does not exist (for this party).
        Conflict: it exists but is not in a state that allows the action.
        Unprocessable: the action's body breaks a rule (non-positive quantities, a supplier
            listed twice, amounts past exact integers, …) or its figures do not match.
    """
    suppliers = {m.id for m in config.by_role(Role.SUPPLIER)}
    try:
        admit_action(
            state,
            kind=action.kind,
            party=action.party,
            action_id=action.id,
            body=dict(action.body),
            suppliers=suppliers,
        )
    except Refusal as refusal:
        if refusal.kind == "not_found":
            raise NotFound(refusal.reason) from refusal
        if refusal.kind == "conflict":
            raise Conflict(refusal.reason) from refusal
        raise Unprocessable(refusal.reason) from refusal
