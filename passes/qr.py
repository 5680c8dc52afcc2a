"""The pass as a QR code PNG, built for phone scanners and for a cheap render on every refresh.

Choices, and why:

- **Error correction M** (about 15 % of codewords recoverable). The code is shown on a phone
  screen and read by another phone or a counter scanner: glare, moiré, a cracked screen,
  fingers and low brightness damage some modules, so L (7 %) leaves too little margin. Q and H
  buy robustness with density: for a ~270-character pass, L gives version 10 (57×57 modules),
  M version 12 (65×65), Q version 15 (77×77), H version 17 (85×85). Smaller modules are what
  actually makes a screen code hard to read, so M is the balance. No logo is embedded, so
  nothing needs H's headroom.
- **Quiet zone of 4 modules**: the minimum the standard asks for; scanners locate the finder
  patterns by it, and the mini-program may put the image on any background.
- **Fixed mask pattern 2** (``column % 3 == 0``). qrcode's default tries all eight masks and
  scores each with the ISO penalty rules, which is most of its CPU time. Every mask is valid
  and every reader handles all of them; on random pass tokens mask 2 was the best-scoring
  mask most often and had the lowest average excess penalty, so fixing it costs almost nothing
  in readability.
- **Version computed up front** in byte mode (a JWT is base64url: mixed case, so byte mode is
  what qrcode's optimiser would pick anyway), so qrcode encodes the data once instead of
  re-running ``best_fit`` several times.
- **PNG written directly** from the module matrix: 1-bit greyscale, ``box_size`` pixels per
  module, zlib level 6 (level 9 saves ~0.5 % of the bytes for ~80 % more time). Drawing
  through PIL (one rectangle call per dark module) costs more than the QR encoding itself.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

from qrcode import QRCode, constants, util

ERROR_CORRECTION = constants.ERROR_CORRECT_M
MASK_PATTERN = 2
BORDER_MODULES = 4
BOX_SIZE_PX = 6

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@cache
def _capacity_bits(version: int, error_correction: int) -> tuple[int, int]:
    """(data bits the version holds, bits of the byte-mode length field) for a version."""
    return (
        util.BIT_LIMIT_TABLE[error_correction][version],
        # types-qrcode declares MODE_8BIT_BYTE as a plain int, not the Literal[4] its mode tables are keyed by.
        util.mode_sizes_for_version(version)[util.MODE_8BIT_BYTE],  # type: ignore[index]
    )


def _byte_mode_version(n_bytes: int, error_correction: int) -> int:
    """The smallest version holding ``n_bytes`` as one byte-mode segment."""
    for version in range(1, 41):
        capacity, length_bits = _capacity_bits(version, error_correction)
        if 4 + length_bits + 8 * n_bytes <= capacity:
            return version
    raise ValueError(f"{n_bytes} bytes do not fit in a QR code at this error correction level")


def qr_modules(data: str) -> list[list[bool]]:
    """The module matrix (True = dark), without the quiet zone."""
    raw = data.encode("utf-8")
    qr: QRCode = QRCode(
        version=_byte_mode_version(len(raw), ERROR_CORRECTION),
        error_correction=ERROR_CORRECTION,
        border=BORDER_MODULES,
        box_size=BOX_SIZE_PX,
        mask_pattern=MASK_PATTERN,
    )
    qr.add_data(util.QRData(raw, mode=util.MODE_8BIT_BYTE))  # type: ignore[call-overload]  # same stub gap
    qr.make(fit=False)
    return qr.modules  # type: ignore[return-value]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def modules_to_png(
    modules: list[list[bool]], *, box_size: int = BOX_SIZE_PX, border: int = BORDER_MODULES
) -> bytes:
    """A 1-bit greyscale PNG of the matrix: black modules on white, with a white quiet zone."""
    count = len(modules)
    side_px = (count + 2 * border) * box_size
    row_bytes = (side_px + 7) // 8
    pad_bits = row_bytes * 8 - side_px
    # In 1-bit greyscale 0 is black and 1 is white; each module becomes box_size bits.
    expand = {ord("0"): "0" * box_size, ord("1"): "1" * box_size}
    quiet = "1" * border
    blank_line = b"\x00" + (int("1" * side_px + "0" * pad_bits, 2).to_bytes(row_bytes, "big"))
    lines = [blank_line * (border * box_size)]
    for row in modules:
        bits = (quiet + "".join(["0" if dark else "1" for dark in row]) + quiet).translate(expand)
        lines.append((b"\x00" + int(bits + "0" * pad_bits, 2).to_bytes(row_bytes, "big")) * box_size)
    lines.append(blank_line * (border * box_size))
    header = struct.pack(">IIBBBBB", side_px, side_px, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(lines), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


def render_qr_png(data: str) -> bytes:
    """The QR code of ``data`` (a pass token) as PNG bytes, ready for ``qr_png_base64``."""
    return modules_to_png(qr_modules(data))
