"""Pass signing keys: kept encrypted in the database, shared by workers, rotated without breaking passes."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from passes.keys import RETIRED_KEY_VERIFIES_S, open_key, rotate_pass_key
from passes.models import PassKey
from passes.service import pass_runtime
from passes.tokens import private_key_to_bytes
from server.settings import SettingsError
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]


def kid_of(token: str) -> str:
    return f.b64url_json(token.split(".")[0])["kid"]


async def published_kids(client) -> set[str]:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    return {jwk["kid"] for jwk in r.json()["keys"]}


@pytest.fixture
async def scene(client):
    """A resident who can get passes, and a merchant whose owner scans them."""
    resident = await f.make_resident(client, 21)
    merchant = await f.make_merchant(client)
    return {
        "resident": resident["headers"],
        "staff": merchant["headers"],
        "store": merchant["stores"][0]["id"],
    }


class TestStorage:
    async def test_the_signing_key_is_stored_encrypted(self, client, scene):
        token = (await f.issue_pass(client, scene["resident"]))["token"]
        row = await PassKey.get(kid=kid_of(token))
        key = open_key(client.app.ctx.cipher, row)
        seed = private_key_to_bytes(key)
        assert base64.b64encode(seed).decode() not in row.seed_enc and seed.hex() not in row.seed_enc
        r = await client.get("/.well-known/jwks.json")
        assert key.public_jwk() in r.json()["keys"]

    # A second app shares the ORM's global connections and closes them when it stops: every
    # check that reads the database runs before it does.

    async def test_another_worker_signs_with_the_same_key_and_accepts_the_first_ones_passes(
        self, client, settings, scene
    ):
        first = (await f.issue_pass(client, scene["resident"]))["token"]
        async with f.started_client(f.new_app(settings)) as other:
            second = (await f.issue_pass(other, scene["resident"]))["token"]
            assert kid_of(second) == kid_of(first)
            r = await f.make_scan(other, scene["staff"], first, scene["store"])
            assert r.status_code == 201, r.text
            assert await PassKey.all().count() == 1


class TestRotation:
    async def test_old_passes_stay_valid_and_new_ones_use_the_new_key(self, client, scene):
        old = (await f.issue_pass(client, scene["resident"]))["token"]
        new_key = await rotate_pass_key(client.app.ctx.cipher)
        await pass_runtime(client.app).keys.reload()  # what every worker does within KEY_CACHE_S
        new = (await f.issue_pass(client, scene["resident"]))["token"]
        assert kid_of(new) == new_key.kid != kid_of(old)
        assert await published_kids(client) == {kid_of(old), new_key.kid}
        for token in (old, new):
            r = await f.make_scan(client, scene["staff"], token, scene["store"])
            assert r.status_code == 201, r.text

    async def test_a_worker_that_has_not_reloaded_yet_accepts_passes_of_the_new_key(
        self, client, settings, scene
    ):
        async with f.started_client(f.new_app(settings)) as other:
            assert await published_kids(other)  # its keys are loaded and cached now
            await rotate_pass_key(client.app.ctx.cipher)
            await pass_runtime(client.app).keys.reload()
            token = (await f.issue_pass(client, scene["resident"]))["token"]
            await asyncio.sleep(1.05)  # an unknown kid reloads the keys at most once a second
            r = await f.make_scan(other, scene["staff"], token, scene["store"])
            assert r.status_code == 201, r.text

    async def test_a_retired_key_is_dropped_once_its_passes_can_no_longer_be_valid(self, client, scene):
        old = (await f.issue_pass(client, scene["resident"]))["token"]
        await rotate_pass_key(client.app.ctx.cipher)
        long_ago = datetime.now(UTC) - timedelta(seconds=RETIRED_KEY_VERIFIES_S + 1)
        await PassKey.filter(kid=kid_of(old)).update(retired_at=long_ago)
        await pass_runtime(client.app).keys.reload()
        assert kid_of(old) not in await published_kids(client)
        r = await f.make_scan(client, scene["staff"], old, scene["store"])
        assert r.status_code == 400 and r.json()["error"]["code"] == "PASS_INVALID"

    async def test_the_cli_rotates_the_key(self, client, settings, scene):
        old = (await f.issue_pass(client, scene["resident"]))["token"]
        env = {
            **os.environ,
            "XINYI_ENV": "test",
            "XINYI_VAR_DIR": str(settings.var_dir),
            "DATABASE_URL": settings.database_url or "",
            "REDIS_URL": settings.redis_url or "",
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server", "rotate-pass-key"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        await pass_runtime(client.app).keys.reload()
        new = (await f.issue_pass(client, scene["resident"]))["token"]
        assert kid_of(new) != kid_of(old) and kid_of(new) in done.stdout
        r = await f.make_scan(client, scene["staff"], old, scene["store"])
        assert r.status_code == 201, r.text


class TestProduction:
    async def test_refuses_to_start_without_a_signing_key(self, settings):
        app = f.new_app(settings.with_overrides(pass_signing_keys_required=True))
        from tests.conftest import AppClient

        c = AppClient(app)
        try:
            with pytest.raises(SettingsError, match="rotate-pass-key"):
                await c.start()
        finally:
            await c.aclose()
            await c.stop()

    async def test_starts_with_a_key_made_beforehand_and_never_makes_one(self, client, settings):
        made = await rotate_pass_key(client.app.ctx.cipher)
        resident = await f.make_resident(client, 22)
        async with f.started_client(
            f.new_app(settings.with_overrides(pass_signing_keys_required=True))
        ) as prod:
            token = (await f.issue_pass(prod, resident["headers"]))["token"]
            assert kid_of(token) == made.kid
            assert await PassKey.all().count() == 1
