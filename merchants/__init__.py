"""Merchants, stores and staff; the merchant-facing routes."""
