"""Merchants, stores and staff (accounts, roles, store access). Their routes are in merchant_api."""
