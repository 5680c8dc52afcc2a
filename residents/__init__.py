"""Resident accounts: WeChat login, consent, real-name identity."""
