"""Dependencies of the auditor node's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supplymesh_auditor.audits import Auditor


def _auditor(request: Request) -> Auditor:
    auditor: Auditor = request.app.state.auditor
    return auditor


AuditorDep = Annotated[Auditor, Depends(_auditor)]
