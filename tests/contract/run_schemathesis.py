"""The contract test: schemathesis against a real server, on PostgreSQL and Redis, over every operation of the spec.

    .venv/bin/python tests/contract/run_schemathesis.py [--max-examples N] [--max-time S] [--seed N]

What it does, leaving nothing behind:

1. creates a fresh PostgreSQL database (``contract_<random>``) next to ``DATABASE_URL``'s and empties
   its own Redis database (``CONTRACT_REDIS_URL``, default db 11);
2. ``xinyi migrate``, ``xinyi seed-demo``, then ``xinyi serve`` (one worker) on a free port;
3. logs in as every audience: a demo resident through the WeChat sandbox (``mock:<openid>:<x>``),
   the demo merchant owner and the demo regulator by password; registers a partner with every
   scope, links it to the demo merchants and gives it the resident's grant (``contract_hooks``
   signs its requests by the recipe the spec documents), and a decoy partner for the path
   parameters to name;
4. runs ``schemathesis run`` over ``/docs/openapi.json`` with the checks ``not_a_server_error``,
   ``status_code_conformance``, ``response_schema_conformance`` and ``content_type_conformance``,
   bounded by ``--max-examples`` per operation and ``--max-time`` for the whole run.

The exit status is schemathesis's: non-zero on any 5xx or any answer the spec does not describe
(then the server's tracebacks, one of each kind, are printed after its report). ``--seed`` replays a run;
``--serve-only`` sets everything up and waits, to reproduce a failure by hand (``st replay``).
Not collected by pytest; CI runs it after ``make test`` (``.ci/run``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _pg(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _xinyi(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "xinyi"), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"xinyi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _wait_ready(server: subprocess.Popen[bytes], log: Path, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "xinyi is ready" in log.read_text(errors="replace"):
            return
        if server.poll() is not None:
            sys.exit(f"the server died:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    sys.exit(f"the server never said it was ready:\n{log.read_text(errors='replace')}")


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        sys.exit(f"{what}: {response.status_code} {response.text}")
    return response.json()


def _credentials(base: str) -> dict[str, Any]:
    """A token per audience, a partner with every scope and its secret, and ids that exist (for the hooks)."""
    from residents.identity import with_check_digit
    from xinyi.demo import DEMO_ADMIN, DEMO_OWNER, DEMO_RESIDENTS

    openid, name, first17, _what = DEMO_RESIDENTS[0]
    with httpx.Client(base_url=base, timeout=30) as http:
        code = f"mock:{openid}:{secrets.token_hex(4)}"
        resident = _ok(http.post("/api/v1/mp/auth/login", json={"code": code}), "resident login")
        owner = _ok(
            http.post(
                "/api/v1/merchant/auth/login", json={"username": DEMO_OWNER[0], "password": DEMO_OWNER[1]}
            ),
            "merchant login",
        )
        admin = _ok(
            http.post(
                "/api/v1/admin/auth/login", json={"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]}
            ),
            "admin login",
        )
        as_admin = {"Authorization": f"Bearer {admin['access_token']}"}
        as_resident = {"Authorization": f"Bearer {resident['access_token']}"}
        as_owner = {"Authorization": f"Bearer {owner['access_token']}"}
        offers = _ok(http.get("/api/v1/admin/offers", headers=as_admin), "offers")["items"]
        merchant_ids = sorted({offer["merchant_id"] for offer in offers})
        partner = _ok(
            http.post(
                "/api/v1/admin/partners",
                headers=as_admin,
                json={
                    "name": "契约测试平台",
                    "kind": "tourism",
                    "scopes": [
                        "pass:verify",
                        "tier:read",
                        "redemption:write",
                        "volunteer:write",
                        "commitment:write",
                        "report:read",
                        "score:write",
                    ],
                },
            ),
            "partner",
        )
        _ok(
            http.put(
                f"/api/v1/admin/partners/{partner['id']}/merchants",
                headers=as_admin,
                json={"merchant_ids": merchant_ids},
            ),
            "partner merchants",
        )
        grant = _ok(
            http.post(
                "/api/v1/mp/grants",
                headers=as_resident,
                json={
                    "partner_id": partner["id"],
                    "scopes": [
                        "tier:read",
                        "redemption:write",
                        "commitment:write",
                        "report:read",
                        "score:write",
                    ],
                },
            ),
            "grant",
        )
        # What the path parameters may name: a decoy partner and its grant, so that rotating a secret
        # or revoking a grant never takes the signing partner's away in the middle of the run.
        decoy = _ok(
            http.post(
                "/api/v1/admin/partners",
                headers=as_admin,
                json={"name": "契约测试诱饵", "kind": "bank", "scopes": ["tier:read"]},
            ),
            "decoy partner",
        )
        decoy_grant = _ok(
            http.post(
                "/api/v1/mp/grants",
                headers=as_resident,
                json={"partner_id": decoy["id"], "scopes": ["tier:read"]},
            ),
            "decoy grant",
        )
        consent = _ok(http.get("/api/v1/mp/consent", headers=as_resident), "consent")
        redemptions = _ok(http.get("/api/v1/merchant/redemptions", headers=as_owner), "redemptions")["items"]
        rulesets = _ok(http.get("/api/v1/admin/rulesets", headers=as_admin), "rulesets")["items"]
    return {
        "base": base,
        "consent_version": consent["version"],
        "resident": {"openid": openid, "name": name, "id_number": with_check_digit(first17)},
        "tokens": {
            "mp": resident["access_token"],
            "merchant": owner["access_token"],
            "admin": admin["access_token"],
        },
        "partner": {"key": partner["key"], "secret": partner["secret"]},
        "grant_code": grant["authorization_code"],
        "ids": {
            "offer_id": [offer["id"] for offer in offers],
            "merchant_id": merchant_ids,
            "store_id": owner["staff"]["store_ids"],
            "partner_id": [decoy["id"]],
            "grant_id": [decoy_grant["id"]],
            "redemption_id": [r["id"] for r in redemptions],
            "version": [r["version"] for r in rulesets],
        },
    }


def _exchange(base: str, context: dict[str, Any]) -> None:
    """The partner's reference for the granted resident (a signed call, as the hooks make them)."""
    sys.path.insert(0, str(HERE))
    from contract_hooks import signed_headers

    body = json.dumps({"authorization_code": context["grant_code"]}).encode()
    path = "/api/v1/partner/grants/exchange"
    partner = context["partner"]
    headers = {
        "Content-Type": "application/json",
        **signed_headers(partner["key"], partner["secret"], "POST", path, body),
    }
    answer = _ok(httpx.post(base + path, content=body, headers=headers, timeout=30), "grant exchange")
    context["ids"]["partner_user_ref"] = [answer["partner_user_ref"]]


def _tracebacks(server_log: str) -> list[str]:
    """The server's tracebacks, one of each kind (told apart by their last line)."""
    found: dict[str, str] = {}
    lines = server_log.splitlines()
    for start, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = start + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
            end += 1
        block = lines[max(0, start - 1) : end + 1]
        found.setdefault(block[-1], "\n".join(block))
    return list(found.values())


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--max-examples", type=int, default=int(os.environ.get("CONTRACT_MAX_EXAMPLES", "20"))
    )
    parser.add_argument("--max-time", type=int, default=int(os.environ.get("CONTRACT_MAX_TIME", "200")))
    parser.add_argument(
        "--seed", type=int, default=None, help="schemathesis's seed (default: a random one, printed)"
    )
    parser.add_argument("--workers", default=os.environ.get("CONTRACT_WORKERS", "2"))
    parser.add_argument("--keep", type=Path, default=None, help="copy the server's log and the context here")
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="set up, print the server's address and the context file, and wait (to reproduce a failure by hand)",
    )
    args = parser.parse_args()
    # Killed: still stop the server and drop the database (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    admin_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    if not admin_url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL server: the contract test runs on PostgreSQL")
    redis_url = os.environ.get("CONTRACT_REDIS_URL", "redis://127.0.0.1:6379/11")
    name = f"contract_{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="xinyi-contract-"))
    log = tmp / "serve.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "WECHAT_API_BASE", "XINYI_ENV")
    }
    env |= {
        "XINYI_ENV": "dev",
        "XINYI_VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": _with_database(admin_url, name),
        "REDIS_URL": redis_url,
        "ACCESS_TOKEN_TTL_S": "3600",
        # schemathesis fails thousands of logins and refreshes from this one address; the hooks' own
        # logins (after an erasure) must still get through
        "TOKEN_FAILURES_PER_ADDRESS": "100000/minute",
    }
    started = time.monotonic()
    asyncio.run(_pg(admin_url, f'CREATE DATABASE "{name}"'))
    server: subprocess.Popen[bytes] | None = None
    try:
        _flush_redis(redis_url)
        _xinyi(env, tmp, "migrate")
        _xinyi(env, tmp, "seed-demo")
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(BIN / "xinyi"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(server, log)
        context = _credentials(base)
        _exchange(base, context)
        context_file = tmp / "context.json"
        context_file.write_text(json.dumps(context))
        if args.serve_only:
            print(
                f"serving on {base}; context in {context_file}; server log {log}; Ctrl-C to stop", flush=True
            )
            try:
                server.wait()
            except KeyboardInterrupt:
                pass
            return 0
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        print(
            f"== schemathesis on {base} (database {name}, seed {seed}); setup took {time.monotonic() - started:.0f} s"
        )
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{base}/docs/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(args.max_examples),
            "--max-time",
            str(args.max_time),
            "--seed",
            str(seed),
            "--workers",
            str(args.workers),
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--continue-on-failure",
        ]
        hooks_env = env | {
            "SCHEMATHESIS_HOOKS": "contract_hooks",
            "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE), env.get("PYTHONPATH")))),
            "CONTRACT_CONTEXT": str(context_file),
        }
        code = subprocess.run(command, env=hooks_env, cwd=tmp, check=False).returncode
        tracebacks = _tracebacks(log.read_text(errors="replace"))
        if code != 0 and tracebacks:
            print(f"---- the server logged {len(tracebacks)} kinds of traceback:")
            print("\n\n".join(tracebacks[:5]))
        print(f"== contract test {'passed' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s")
        return code
    finally:
        if server is not None:
            _stop(server)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for kept in (log, tmp / "context.json"):
                if kept.exists():
                    (args.keep / kept.name).write_bytes(kept.read_bytes())
        asyncio.run(_pg(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _flush_redis(redis_url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
