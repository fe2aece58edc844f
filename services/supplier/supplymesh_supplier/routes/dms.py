"""ERP routes of the DMS: profile, sensors, readings, capacity."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from supplymesh.core.numbers import format_decimal
from supplymesh.errors import NotFound
from supplymesh.web.deps import ErpReader, ErpWriter
from supplymesh.web.fastbody import body_openapi, json_body
from supplymesh.web.idempotency import IdempotencyDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, page_response
from supplymesh_supplier.deps import AttestationsDep, DmsDep
from supplymesh_supplier.models import (
    CapacityOut,
    ProfileIn,
    ProfileOut,
    ReadingsIn,
    ReadingsOut,
    SensorsIn,
    SensorsOut,
)

router = APIRouter(prefix="/v1", tags=["dms"])


@router.put("/dms/profile", summary="Set the plant profile")
async def put_profile(
    body: ProfileIn, dms: DmsDep, attestations: AttestationsDep, _client: ErpWriter
) -> ProfileOut:
    profile = await run_in_threadpool(dms.put_profile, body)
    await attestations.refresh()
    return profile


@router.get("/dms/profile", summary="The plant profile")
def get_profile(dms: DmsDep, _client: ErpReader) -> ProfileOut:
    profile = dms.profile()
    if profile is None:
        raise NotFound("no plant profile is set yet")
    return profile


@router.post(
    "/dms/sensors",
    status_code=201,
    response_model=SensorsOut,
    summary="Register sensors",
    description="`Location`: the registered sensors (`GET /v1/dms/sensors`).",
)
async def register_sensors(
    request: Request, body: SensorsIn, dms: DmsDep, idem: IdempotencyDep
) -> JSONResponse:
    async def run() -> SensorsOut:
        return await run_in_threadpool(dms.register, body)

    response = await idem.run(201, run)
    response.headers["Location"] = str(request.url_for("list_sensors"))
    return response


@router.get("/dms/sensors", summary="Registered sensors")
def list_sensors(
    request: Request, dms: DmsDep, _client: ErpReader, after: str = "", limit: Limit = DEFAULT_LIMIT
) -> JSONResponse:
    specs = sorted((s for s in dms.sensors().values() if s.sensor_id > after), key=lambda s: s.sensor_id)
    return page_response(
        request,
        specs[: limit + 1],
        limit=limit,
        cursor=lambda s: s.sensor_id,
        render=lambda s: {
            "id": s.sensor_id,
            "process": s.process,
            "target": str(s.target),
            "tolerance": str(s.tolerance),
            "defect_class": str(s.defect_class),
            "standard_seconds": str(s.standard_seconds),
        },
    )


@router.post(
    "/dms/readings",
    response_model=ReadingsOut,
    summary="Ingest a batch of readings (Algorithm 1)",
    description="Each reading from a registered sensor is checked against target ± tolerance and recorded "
    "as a quality approval or a quality issue of the sensor's defect class. Readings from unregistered "
    "sensors are rejected one by one, with the reason; the rest of the batch is still recorded.",
    openapi_extra=body_openapi(ReadingsIn),
)
async def ingest(request: Request, dms: DmsDep, idem: IdempotencyDep) -> JSONResponse:
    body = await json_body(request, ReadingsIn)

    async def run() -> ReadingsOut:
        return await run_in_threadpool(dms.ingest, body)

    return await idem.run(200, run)


@router.get("/capacity", summary="Current capacity (Algorithm 2)")
def get_capacity(dms: DmsDep, _client: ErpReader) -> CapacityOut:
    current = dms.capacity()
    if current is None:
        raise NotFound("no plant profile is set yet: PUT /v1/dms/profile")
    return CapacityOut(
        efficiency=format_decimal(current.efficiency),
        mhc_per_day=format_decimal(current.mhc_per_day),
        queued_machine_hours=format_decimal(current.queued_machine_hours),
        open_network_hours=format_decimal(dms.open_network_hours()),
        products=list(current.products),
        computed_at=dms.node.now_text(),
    )
