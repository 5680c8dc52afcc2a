"""The QR credit pass: signing keys and JWKS, issuing and verifying pass tokens, QR images.

The token and image code here is pure (no database, Redis or HTTP); storage of keys, single
use (``spent_passes``) and the routes live in the service layer above it.
"""
