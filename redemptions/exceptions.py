"""Errors of coupons, redemptions, reversals and breach reports (contract codes where the contract names one)."""

from __future__ import annotations

from server.errors import AppError, Conflict, Forbidden, NotFound


class TierTooLow(Forbidden):
    code = "TIER_TOO_LOW"
    message = "The resident's tier is below what this offer needs."


class TierRestricted(Forbidden):
    code = "TIER_RESTRICTED"
    message = "The resident is on a black list and gets no benefit."


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    message = "This offer has no stock left."


class LimitReached(Conflict):
    code = "LIMIT_REACHED"
    message = "The resident has used this offer as often as its terms allow for now."


class OfferNotActive(Conflict):
    code = "OFFER_NOT_ACTIVE"
    message = "This offer is not running now (paused, awaiting approval, not started or ended)."


class OfferNotAtStore(Conflict):
    code = "OFFER_NOT_AT_STORE"
    message = "This offer does not apply at the store of the scan."


class OfferNotClaimable(Conflict):
    code = "OFFER_NOT_CLAIMABLE"
    message = "This offer needs no coupon: it is granted at the scan."


class AlreadyRedeemed(Conflict):
    code = "ALREADY_REDEEMED"
    message = "This offer was already redeemed with this scan."


class CouponRequired(Conflict):
    code = "COUPON_REQUIRED"
    message = "This offer is granted against a claimed coupon: give its coupon_id."


class CouponInvalid(Conflict):
    code = "COUPON_INVALID"
    message = "This coupon is not the resident's coupon for this offer."


class CouponUsed(Conflict):
    code = "COUPON_USED"
    message = "This coupon was already used."


class CouponExpired(Conflict):
    code = "COUPON_EXPIRED"
    message = "This coupon has expired."


class RedemptionNotFound(NotFound):
    code = "REDEMPTION_NOT_FOUND"
    message = "No such redemption at this merchant."


class AlreadyReversed(Conflict):
    code = "ALREADY_REVERSED"
    message = "This redemption was already reversed."


class RedemptionReversed(Conflict):
    code = "REDEMPTION_REVERSED"
    message = "This redemption was reversed; there is nothing to report."


class BreachExists(Conflict):
    code = "BREACH_EXISTS"
    message = "A breach was already reported for this redemption."


class BreachNotFound(NotFound):
    code = "BREACH_NOT_FOUND"
    message = "No such breach report."


class BreachAlreadyDecided(Conflict):
    code = "BREACH_ALREADY_DECIDED"
    message = "This breach report was already decided."


class ResidentUnidentified(Conflict):
    code = "RESIDENT_UNIDENTIFIED"
    message = "The resident of this redemption can no longer be identified (the account was erased)."


class LedgerBusy(AppError):
    """The same request lost a race three times in a row: rare, and safe to retry."""

    status_code = 409
    code = "CONFLICT"
    message = "The ledger was busy with a concurrent change; try again."
