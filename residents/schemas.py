"""Request and response shapes of the resident account endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="wx.login code", examples=["0a3Xk1000abcDEF"])


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class ConsentIn(BaseModel):
    version: str = Field(min_length=1, max_length=32)


# Documented, and checked by the service with its own codes (422 ID_NUMBER_INVALID for the ID number).
NAME_PATTERN = r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·• .'-]{0,48}[\u3400-\u9fffA-Za-z]$"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"


class IdentityIn(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=50,
        description="the legal name: 2–50 letters or Chinese characters",
        json_schema_extra={"pattern": NAME_PATTERN},
        examples=["张三"],
    )
    id_number: str = Field(
        min_length=1,
        max_length=32,
        description="the resident identity card number (GB 11643, its check digit verified)",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN},
        examples=["11010519491231002X"],
    )
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
