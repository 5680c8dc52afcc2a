"""Regulator accounts and routes."""
