"""Request and response shapes of the resident account endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="wx.login code")


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class ConsentIn(BaseModel):
    version: str = Field(min_length=1, max_length=32)


class IdentityIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)
    phone_code: str | None = Field(
        default=None, min_length=1, max_length=256, description="getPhoneNumber code"
    )


class ResidentSummary(BaseModel):
    id: str
    consented: bool
    identity_bound: bool


class LoginOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    resident: ResidentSummary


class ConsentOut(BaseModel):
    version: str
    title: str
    scopes: list[str]
    summary: str
    accepted_version: str | None
    consented: bool


class IdentityOut(BaseModel):
    identity_bound: bool
    id_number_masked: str


class MeOut(BaseModel):
    id: str
    name_masked: str | None
    id_number_masked: str | None
    phone_masked: str | None
    tier: str | None
    consented: bool
    identity_bound: bool
