"""Deposit-free orders: opened from a live scan against a risk amount, completed, settled, and the breach ladder."""
