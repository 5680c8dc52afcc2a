"""What the public asks for and gets: the red and black lists, the benefit catalogue."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coupons.schemas import OfferTier, OfferType, Scenario
from server.pagination import Limit

REGION = r"^[1-9][0-9]{5}$"
REGION_FILTER_TEXT = (
    "a GB/T 2260 code; it rolls up by prefix: 530000 the province, 532900 大理州 (its counties too), "
    "532901 one county"
)


def _region_filter(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) != 6 or value.startswith("0"):
        raise ValueError("must be a 6-digit administrative division code (GB/T 2260), e.g. 532900")
    return value


class PublicListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a page's form may carry more; nothing else is read

    region: str | None = Field(
        default=None,
        description=REGION_FILTER_TEXT,
        examples=["532900"],
        json_schema_extra={"pattern": REGION},
    )
    limit: Limit = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _region_filter(value)


class PublicListItem(BaseModel):
    name_masked: str = Field(
        description="the first character, then one * for each other character: 张三 → 张*"
    )
    category: str = Field(description="which list: tourism, transport, court_dishonest_debtor, …")
    title: str
    basis: str = Field(description="认定依据: the decision and the rule it applies")
    region: str | None = Field(description="where it was decided (GB/T 2260), when the regulator said")
    decided_at: date
    publicity_until: date | None


class PublicListPage(BaseModel):
    items: list[PublicListItem]
    next_cursor: str | None


class PublicBenefitsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    region: str | None = Field(
        default=None,
        description="offers at stores inside this region (GB/T 2260; rolls up by prefix)",
        examples=["530700"],
        json_schema_extra={"pattern": REGION},
    )
    scenario: Scenario | None = None
    limit: Limit = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _region_filter(value)


class PublicBenefit(BaseModel):
    offer_id: str
    merchant: dict[str, str]
    scenario: Scenario
    type: OfferType
    label: str
    value: int | None
    min_tier: OfferTier
    requires_claim: bool
    valid_from: datetime
    valid_until: datetime
    remaining: int | None


class PublicBenefitPage(BaseModel):
    items: list[PublicBenefit]
    next_cursor: str | None
