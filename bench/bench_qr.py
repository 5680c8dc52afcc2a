"""Figures for the pass: token size, QR render CPU time, Ed25519 sign/verify time.

Run from the repository root: ``.venv/bin/python bench/bench_qr.py [renders]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode  # noqa: E402

from passes.qr import qr_modules, render_qr_png  # noqa: E402
from passes.tokens import (  # noqa: E402
    generate_signing_key,
    issue_pass_token,
    signature_valid,
    verify_pass_token,
)

NOW = 1_760_000_000


def cpu_ms_per_call(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (qrcode keeps the blank matrix of each version)
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat * 1000


def qrcode_default_png(data: str) -> bytes:
    """What ``qrcode.make(data)`` does: mask search, box_size 10, PIL image."""
    buffer = BytesIO()
    qrcode.make(data).save(buffer)
    return buffer.getvalue()


def main() -> None:
    renders = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    key = generate_signing_key(now=datetime.now(UTC))
    keys = {key.kid: key}
    subject = "ps_Q2xK9vB3mN7x"  # 15 chars, a realistic pseudonymous pass subject
    token, _ = issue_pass_token(key=key, subject=subject, tier="restricted", now=NOW, ttl_s=60)
    short, _ = issue_pass_token(key=key, subject=subject, tier="good", now=NOW, ttl_s=60)
    version = (len(qr_modules(token)) - 17) // 4

    print(f"token length: {len(token)} chars (tier 'restricted'), {len(short)} chars (tier 'good')")
    print(f"QR: version {version} at level M, PNG {len(render_qr_png(token))} bytes")
    print(
        f"render_qr_png (fixed mask, 6 px/module, direct PNG): "
        f"{cpu_ms_per_call(lambda: render_qr_png(token), renders):.2f} ms CPU/PNG over {renders}"
    )
    baseline_repeat = max(renders // 4, 10)
    print(
        f"qrcode default (mask search, 10 px/module, PIL):    "
        f"{cpu_ms_per_call(lambda: qrcode_default_png(token), baseline_repeat):.2f} ms CPU/PNG "
        f"over {baseline_repeat}, {len(qrcode_default_png(token))} bytes"
    )

    crypto_repeat = 2000
    sign_us = cpu_ms_per_call(
        lambda: issue_pass_token(key=key, subject=subject, tier="good", now=NOW, ttl_s=60), crypto_repeat
    )
    verify_us = cpu_ms_per_call(lambda: verify_pass_token(token, keys=keys, now=NOW), crypto_repeat)
    raw_sign_us = cpu_ms_per_call(lambda: key.private_key.sign(token.encode()), crypto_repeat)
    signature = key.private_key.sign(b"x")
    raw_verify_us = cpu_ms_per_call(lambda: signature_valid(key.public_bytes, signature, b"x"), crypto_repeat)
    openssl_verify_us = cpu_ms_per_call(lambda: key.public_key.verify(signature, b"x"), crypto_repeat)
    print(f"issue_pass_token: {sign_us * 1000:.0f} µs (raw Ed25519 sign {raw_sign_us * 1000:.0f} µs)")
    print(
        f"verify_pass_token: {verify_us * 1000:.0f} µs (raw Ed25519 verify {raw_verify_us * 1000:.0f} µs with "
        f"libsodium, as the server does; {openssl_verify_us * 1000:.0f} µs with OpenSSL)"
    )


if __name__ == "__main__":
    main()
