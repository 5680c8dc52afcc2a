"""Shapes of the merchant, store and staff endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from merchants.vocabulary import region_problem

MerchantCategory = Literal["scenic_spot", "hotel", "shuttle", "restaurant", "shop", "travel_agency", "rental"]
StaffRole = Literal["owner", "manager", "cashier"]


def _region(value: str) -> str:
    if why := region_problem(value):
        raise ValueError(why)
    return value


class MerchantIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    category: MerchantCategory
    region: str

    _check_region = field_validator("region")(_region)


class StoreIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    region: str
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
