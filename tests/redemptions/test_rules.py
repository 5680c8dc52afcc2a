"""The ledger's pure rules: discounts in fen, limit periods on the China Standard Time calendar, tiers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from redemptions.exceptions import TierRestricted, TierTooLow
from redemptions.rules import discount_for, period_key, tier_refusal


class TestDiscount:
    @pytest.mark.parametrize(
        ("percent", "order", "discount"),
        [(20, 10000, 2000), (15, 1999, 299), (33, 1, 0), (100, 4321, 4321), (1, 99, 0), (20, 0, 0)],
    )
    def test_percent_off_is_rounded_down_to_the_fen(self, percent, order, discount):
        assert discount_for("percent_off", percent, order) == (discount, 0)

    def test_percent_off_needs_the_order(self):
        with pytest.raises(ValueError):
            discount_for("percent_off", 20, None)

    def test_amount_off_is_capped_at_the_order_when_there_is_one(self):
        assert discount_for("amount_off", 5000, 3000) == (3000, 0)
        assert discount_for("amount_off", 5000, 9000) == (5000, 0)
        assert discount_for("amount_off", 5000, None) == (5000, 0)

    def test_a_deposit_waiver_is_not_a_discount(self):
        assert discount_for("deposit_waiver", 80000, 120000) == (0, 80000)

    @pytest.mark.parametrize("offer_type", ["priority_lane", "express_checkout", "free_ride"])
    def test_other_benefits_have_no_amount(self, offer_type):
        assert discount_for(offer_type, None, 5000) == (0, 0)


class TestPeriods:
    def test_days_and_months_follow_china_standard_time(self):
        late_utc = datetime(2025, 5, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 June in Kunming
        assert period_key("day", late_utc) == "2025-06-01"
        assert period_key("month", late_utc) == "2025-06"
        assert period_key("day", datetime(2025, 5, 31, 15, 59, tzinfo=UTC)) == "2025-05-31"

    def test_total_and_none(self):
        now = datetime(2025, 5, 1, tzinfo=UTC)
        assert period_key("total", now) == "total"
        assert period_key(None, now) is None


class TestTiers:
    def test_black_listed_residents_get_nothing(self):
        assert isinstance(tier_refusal("restricted", "C"), TierRestricted)

    def test_below_the_minimum_is_too_low_and_at_or_above_is_fine(self):
        assert isinstance(tier_refusal("B", "A"), TierTooLow)
        assert tier_refusal("A", "A") is None
        assert tier_refusal("AAA", "AA") is None
