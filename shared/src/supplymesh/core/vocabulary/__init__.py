"""The typed vocabulary of the network: every message a party or the PDU signs.

* :mod:`~supplymesh.core.vocabulary.values` — exact numbers, ids, times, :class:`Money`;
* :mod:`~supplymesh.core.vocabulary.bodies` — party actions (demand terms, deposit,
  production report, offer acceptance) and the channel views the network reads
  (capacity attestation, lot quality);
* :mod:`~supplymesh.core.vocabulary.decisions` — decision inputs and results.

Every model is frozen and strict; each states the rules of SPEC §3–§7 and §10 that one
message can break. The OEM's ERP edge, the PDU's admission, every partner's fold and
re-execution and the auditor use these same models. Rules that need the network state
live in :mod:`supplymesh.core.contracts.admission`.
"""

from supplymesh.core.vocabulary.values import Message, MessageError, Money

__all__ = ["Message", "MessageError", "Money"]
