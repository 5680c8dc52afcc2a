"""The QR credit pass: signing keys and JWKS, issuing and verifying pass tokens, QR images.

The token and image code here is pure (no database, Redis or HTTP); storage of keys, the
single-use replay guard and the routes live in the service layer above it.
"""
