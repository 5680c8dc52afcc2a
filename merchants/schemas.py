"""Shapes of the merchant, store and staff endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from merchants.vocabulary import region_problem

MerchantCategory = Literal["scenic_spot", "hotel", "shuttle", "restaurant", "shop", "travel_agency", "rental"]
StaffRole = Literal["owner", "manager", "cashier"]


REGION = Field(
    description="a 6-digit administrative division code (GB/T 2260), e.g. 530100 昆明市",
    json_schema_extra={"pattern": r"^[1-9][0-9]{5}$"},
    examples=["530700"],
)


def _region(value: str) -> str:
    if why := region_problem(value):
        raise ValueError(why)
    return value


class MerchantIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    category: MerchantCategory
    region: str = REGION

    _check_region = field_validator("region")(_region)


class StoreIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    region: str = REGION
    address: str | None = Field(default=None, max_length=255)

    _check_region = field_validator("region")(_region)


class StaffIn(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=128)
    role: StaffRole
    store_ids: list[str] = Field(default_factory=list, max_length=500)


class StaffLoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class MerchantOut(BaseModel):
    id: str
    name: str
    category: str
    region: str
    created_at: str


class StoreOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    region: str
    address: str | None


class StaffOut(BaseModel):
    id: str
    merchant_id: str
    username: str
    role: str
    store_ids: list[str]


class StaffSummary(BaseModel):
    id: str
    merchant_id: str
    role: StaffRole
    store_ids: list[str]


class StaffLoginOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until the access token expires")
    staff: StaffSummary
