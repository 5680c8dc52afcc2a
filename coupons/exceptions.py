"""Offer errors (contract codes where the contract names one)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class OfferNotFound(NotFound):
    code = "OFFER_NOT_FOUND"
    message = "No such offer."


class OfferNotPending(Conflict):
    code = "OFFER_NOT_PENDING"
    message = "Only an offer waiting for approval can be approved or rejected."


class OfferNotResumable(Conflict):
    code = "OFFER_NOT_RESUMABLE"
    message = "Only a paused offer whose terms a regulator approved can be resumed."


class OfferOutsidePilot(Conflict):
    code = "OFFER_OUTSIDE_PILOT"
    message = "The offer's scenario is in pilot, and this store lies outside the pilot's regions."


class PilotNotFound(NotFound):
    code = "PILOT_NOT_FOUND"
    message = "This scenario is not in pilot."
