"""Dependencies of the PDU node's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supplymesh_pdu.sequencer import Sequencer


def _sequencer(request: Request) -> Sequencer:
    sequencer: Sequencer = request.app.state.sequencer
    return sequencer


SequencerDep = Annotated[Sequencer, Depends(_sequencer)]
