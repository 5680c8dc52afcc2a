"""Fraud signals computed beside the scan path from the scan log and the ledger."""
