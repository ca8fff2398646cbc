"""Grid API: browse the unit tree and locate a point (any logged-in role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import aliased

from hotline.web.api import ApiRoute, error_responses
from hotline.grid.models import GridUnit
from hotline.grid.service import units_geojson
from hotline.web.security import CurrentUser, current_user

router = APIRouter(prefix="/api/grid", tags=["网格"], route_class=ApiRoute)


class UnitOut(BaseModel):
    code: str
    name: str
    level: int
    kind: str
    parent_code: str | None
    center_lon: float | None
    center_lat: float | None
    synthetic: bool
    verified: bool


class ChainUnit(BaseModel):
    code: str
    name: str
    level: int
    kind: str


class LocateOut(BaseModel):
    lat: float
    lon: float
    code: str
    label: str
    chain: list[ChainUnit]


@router.get("/units", response_model=list[UnitOut], summary="网格单元列表（按层级、上级单元筛选）",
            responses=error_responses(404))
def list_units(request: Request, _user: CurrentUser = Depends(current_user),
               level: int | None = Query(None, ge=1, le=4, description="1 区县、2 街道（乡镇）、3 社区（村）、4 单元网格"),
               parent: str | None = Query(None, min_length=6, max_length=15, description="上级单元代码"),
               q: str | None = Query(None, max_length=50, description="名称包含")) -> list[dict[str, Any]]:
    state = request.app.state.hotline
    parent_unit = aliased(GridUnit)
    stmt = (select(GridUnit, parent_unit.code).outerjoin(parent_unit, GridUnit.parent_id == parent_unit.id)
            .order_by(GridUnit.level, GridUnit.code))
    with state.read_sessions() as s:
        if parent:
            pid = s.scalar(select(GridUnit.id).where(GridUnit.code == parent))
            if pid is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"上级网格单元 {parent} 不存在")
            stmt = stmt.where(GridUnit.parent_id == pid)
        if level is not None:
            stmt = stmt.where(GridUnit.level == level)
        if q and q.strip():
            stmt = stmt.where(GridUnit.name.contains(q.strip(), autoescape=True))
        return [{"code": u.code, "name": u.name, "level": u.level, "kind": u.kind, "parent_code": pc,
                 "center_lon": u.center_lon, "center_lat": u.center_lat, "synthetic": u.synthetic,
                 "verified": u.verified} for u, pc in s.execute(stmt)]


@router.get("/geojson", summary="网格单元边界（GeoJSON，WGS-84），供地图绘制")
def geojson(request: Request, _user: CurrentUser = Depends(current_user),
            level: list[Annotated[int, Field(ge=1, le=4)]] = Query(
                [1, 2], description="层级：1 区县、2 街道（乡镇）、3 社区（村）、4 单元网格")) -> dict:
    with request.app.state.hotline.read_sessions() as s:
        return units_geojson(s, level)


@router.get("/locate", response_model=LocateOut, summary="坐标定位到网格（最小单元及上级链）",
            responses=error_responses(404, 503))
def locate(request: Request, _user: CurrentUser = Depends(current_user),
           lat: float = Query(..., ge=-90, le=90, allow_inf_nan=False, description="纬度（WGS-84）"),
           lon: float = Query(..., ge=-180, le=180, allow_inf_nan=False, description="经度（WGS-84）")) -> dict:
    state = request.app.state.hotline
    grid = getattr(getattr(state, "ticket_router", None), "grid", None)
    if grid is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="网格数据未加载，无法定位")
    placement = grid.locate_point(lon, lat)
    if placement is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"坐标（纬度 {lat}，经度 {lon}）不在本热线服务的任何网格内")
    return {"lat": lat, "lon": lon, "code": placement.unit.code, "label": placement.label(),
            "chain": [{"code": u.code, "name": u.name, "level": u.level, "kind": u.kind} for u in placement.chain]}
