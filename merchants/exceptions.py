"""Merchant-side business errors."""

from __future__ import annotations

from server.errors import Conflict, Forbidden, NotFound


class MerchantNotFound(NotFound):
    code = "MERCHANT_NOT_FOUND"
    message = "No such merchant."


class UsernameTaken(Conflict):
    code = "USERNAME_TAKEN"
    message = "This username is already taken."


class StoreNotYours(Forbidden):
    code = "STORE_NOT_YOURS"
    message = "This store does not belong to your merchant account or is not assigned to you."


class OwnerOnly(Forbidden):
    code = "FORBIDDEN"
    message = "Only the merchant's owner may do this."
