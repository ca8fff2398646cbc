"""Categories API: the 部件/事项 catalogue for the intake form (any logged-in role)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import or_, select

from hotline.web.api import ApiRoute
from hotline.categories.models import Category
from hotline.web.security import CurrentUser, current_user

router = APIRouter(prefix="/api", tags=["分类"], route_class=ApiRoute)

KIND_LABEL = {"component": "部件", "matter": "事项"}


class CategoryOut(BaseModel):
    code: str
    kind: str
    kind_label: str
    name: str
    big_class_code: str
    big_class: str
    standard_ref: str
    default_department: str | None
    is_local_extension: bool


@router.get("/categories", response_model=list[CategoryOut], summary="案件分类目录（部件、事项）")
def list_categories(request: Request, _user: CurrentUser = Depends(current_user),
                    q: str | None = Query(None, max_length=50, description="编码前缀或名称、大类包含"),
                    kind: Literal["component", "matter"] | None = Query(None, description="component 部件 / matter 事项"),
                    ) -> list[dict[str, Any]]:
    state = request.app.state.hotline
    stmt = select(Category).where(Category.active.is_(True)).order_by(Category.code, Category.kind, Category.id)
    if kind:
        stmt = stmt.where(Category.kind == kind)
    if q and q.strip():
        text = q.strip()
        stmt = stmt.where(or_(Category.code.startswith(text, autoescape=True),
                              Category.name.contains(text, autoescape=True),
                              Category.big_class.contains(text, autoescape=True)))
    with state.read_sessions() as s:
        return [{"code": c.code, "kind": c.kind, "kind_label": KIND_LABEL.get(c.kind, c.kind), "name": c.name,
                 "big_class_code": c.big_class_code, "big_class": c.big_class, "standard_ref": c.standard_ref,
                 "default_department": c.default_department, "is_local_extension": c.is_local_extension}
                for c in s.execute(stmt).scalars()]
