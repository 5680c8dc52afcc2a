"""Offline scanning: the signed bundle a store's device verifies passes with, and the upload of what it did."""
