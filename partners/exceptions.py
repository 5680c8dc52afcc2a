"""Partner-side business errors (contract codes)."""

from __future__ import annotations

from server.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthenticated


class SignatureInvalid(Unauthenticated):
    """Unknown key, missing or malformed headers, or a signature that does not match."""

    code = "SIGNATURE_INVALID"
    message = "The request signature is missing or invalid."


class TimestampSkew(Unauthenticated):
    code = "TIMESTAMP_SKEW"
    message = "X-Timestamp is more than 300 seconds away from the server's clock."


class NonceReused(Unauthenticated):
    code = "NONCE_REUSED"
    message = "This X-Nonce was already used; sign every request with a fresh nonce."


class ScopeMissing(Forbidden):
    code = "SCOPE_MISSING"
    message = "This partner account lacks the scope this call needs."


class ReplayGuardUnavailable(ServiceUnavailable):
    message = "The replay guard is unavailable; the request was not processed. Retry shortly."


class PartnerNotFound(NotFound):
    code = "PARTNER_NOT_FOUND"
    message = "No such partner."


class VolunteerRecordNotFound(NotFound):
    code = "VOLUNTEER_RECORD_NOT_FOUND"
    message = "No volunteer record with this external_id from this partner."


class GrantCodeInvalid(BadRequest):
    code = "GRANT_CODE_INVALID"
    message = "The authorization code is unknown, expired, already used or issued to another partner."


class GrantRequired(Forbidden):
    code = "GRANT_REQUIRED"
    message = "The resident has not granted this partner the scope this call needs (or revoked it)."


class GrantNotFound(NotFound):
    code = "GRANT_NOT_FOUND"
    message = "No such grant."


class OfferNotAvailable(Forbidden):
    code = "OFFER_NOT_AVAILABLE"
    message = "This offer is not available to this partner (its merchant is not linked to the partner)."


class WebhookDeliveryNotFound(NotFound):
    code = "WEBHOOK_DELIVERY_NOT_FOUND"
    message = "No such webhook delivery."


class WebhookDeliveryInFlight(Conflict):
    code = "WEBHOOK_DELIVERY_IN_FLIGHT"
    message = "A worker is sending this event right now; look again in a few seconds."


class WebhookAlreadyDelivered(Conflict):
    code = "WEBHOOK_ALREADY_DELIVERED"
    message = "The receiver acknowledged this event with a 2xx already; it is not sent again."
