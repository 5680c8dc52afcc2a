import random
import secrets
import string
import zlib
from datetime import UTC, datetime
from io import BytesIO

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode import util

from passes.qr import (
    BORDER_MODULES,
    BOX_SIZE_PX,
    ERROR_CORRECTION,
    MASK_PATTERN,
    modules_to_png,
    qr_modules,
    render_qr_png,
)
from passes.tokens import generate_signing_key, issue_pass_token

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def token() -> str:
    key = generate_signing_key(now=datetime(2025, 3, 1, tzinfo=UTC))
    subject = "ps_" + secrets.token_urlsafe(12)
    token, _ = issue_pass_token(key=key, subject=subject, tier="restricted", now=1_760_000_000, ttl_s=60)
    return token


def decode(png: bytes) -> list:
    # QR codes only: a linear-barcode reader can find a spurious 1D code in a dense random matrix
    return zxingcpp.read_barcodes(Image.open(BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)


class TestRenderQrPng:
    def test_returns_a_png(self, token):
        png = render_qr_png(token)
        assert png.startswith(PNG_SIGNATURE)
        image = Image.open(BytesIO(png))
        image.load()  # decodes every row: CRCs and zlib stream are valid
        assert image.format == "PNG"

    def test_a_scanner_reads_back_the_token(self, token):
        results = decode(render_qr_png(token))
        assert len(results) == 1
        assert results[0].format == zxingcpp.BarcodeFormat.QRCode
        assert results[0].text == token

    def test_error_correction_level_is_m(self, token):
        (result,) = decode(render_qr_png(token))
        assert result.ec_level == "M"

    def test_a_pass_sized_token_gives_version_12_at_six_pixels_a_module(self, token):
        modules = qr_modules(token)
        assert len(modules) == 65  # version 12
        image = Image.open(BytesIO(render_qr_png(token)))
        assert image.size == ((65 + 2 * BORDER_MODULES) * BOX_SIZE_PX,) * 2

    def test_pixels_match_the_modules_with_a_white_quiet_zone(self, token):
        modules = qr_modules(token)
        image = Image.open(BytesIO(render_qr_png(token))).convert("L")
        side = image.size[0]
        quiet_px = BORDER_MODULES * BOX_SIZE_PX
        pixels = image.load()
        for i in range(side):
            for j in (*range(quiet_px), *range(side - quiet_px, side)):
                assert pixels[i, j] == 255 and pixels[j, i] == 255
        for r, row in enumerate(modules):
            for c, dark in enumerate(row):
                for dy in (0, BOX_SIZE_PX - 1):
                    for dx in (0, BOX_SIZE_PX - 1):
                        x = quiet_px + c * BOX_SIZE_PX + dx
                        y = quiet_px + r * BOX_SIZE_PX + dy
                        assert pixels[x, y] == (0 if dark else 255)

    def test_matrix_is_what_qrcode_itself_makes_with_the_same_settings(self, token):
        reference = qrcode.QRCode(error_correction=ERROR_CORRECTION, mask_pattern=MASK_PATTERN)
        reference.add_data(util.QRData(token.encode(), mode=util.MODE_8BIT_BYTE))
        reference.make(fit=True)
        assert qr_modules(token) == reference.modules

    @pytest.mark.parametrize("length", [1, 14, 15, 100, 179, 180, 181, 213, 214, 287, 288, 600, 1024])
    def test_version_is_the_smallest_that_fits(self, length):
        data = ("A1b-_." * 200)[:length]
        reference = qrcode.QRCode(error_correction=ERROR_CORRECTION)
        reference.add_data(util.QRData(data.encode(), mode=util.MODE_8BIT_BYTE))
        assert len(qr_modules(data)) == reference.best_fit() * 4 + 17

    @pytest.mark.parametrize("length", [1, 50, 200, 400])
    @pytest.mark.parametrize("seed", range(5))
    def test_other_lengths_decode_too(self, length, seed):
        chooser = random.Random(f"{length}/{seed}")  # reproducible: a failure names its data
        data = "".join(chooser.choice(string.ascii_letters + string.digits + "-_.") for _ in range(length))
        (result,) = decode(render_qr_png(data))
        assert result.text == data

    def test_png_is_small(self, token):
        assert len(render_qr_png(token)) < 3000


class TestModulesToPng:
    def test_odd_widths_are_padded_to_whole_bytes(self):
        modules = [[(r + c) % 2 == 0 for c in range(21)] for r in range(21)]
        png = modules_to_png(modules, box_size=3, border=1)
        image = Image.open(BytesIO(png)).convert("L")
        assert image.size == (69, 69)  # 23 modules × 3 px: 69 bits, 9 bytes a row
        assert image.getpixel((3, 3)) == 0 and image.getpixel((6, 3)) == 255

    def test_idat_is_one_zlib_stream_of_filtered_rows(self):
        png = modules_to_png([[True]], box_size=2, border=1)
        idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
        rows = zlib.decompress(idat)
        assert len(rows) == 6 * (1 + 1)  # 6 rows of 6 px: filter byte + one data byte each
        assert rows[0::2] == b"\x00" * 6
