#!/usr/bin/env bash
# The walkthrough (`xinyi demo-walkthrough`) against servers this script starts, after the tests:
#   1. as `make run` starts one: SQLite, the in-process store, the WeChat sandbox;
#   2. as a deployment runs: PostgreSQL (a fresh database) and Redis, two workers.
# Exits non-zero at the first failed step, with the server's log; leaves nothing behind.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd -P)"
bin="$root/.venv/bin"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/xinyi-walk.XXXXXX")"
server_pid=""
pg_db=""
pg_admin_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill -INT -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  if [[ -n "$pg_db" ]]; then
    psql "$pg_admin_url" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    pg_db=""
  fi
}
trap 'cleanup; rm -rf "$tmp"' EXIT

free_port() { "$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

walk() { # name, then env assignments for the server
  local name=$1; shift
  local port log
  port="$(free_port)"
  log="$tmp/$name-serve.log"
  echo "== walkthrough ($name)"
  (cd "$tmp" && env "$@" "$bin/xinyi" migrate >/dev/null && env "$@" "$bin/xinyi" seed-demo >"$tmp/$name-seed.log")
  (cd "$tmp" && exec setsid env "$@" "$bin/xinyi" serve --port "$port" ${WORKERS:+--workers "$WORKERS"} >"$log" 2>&1) &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q "xinyi is ready" "$log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "the server died:"; cat "$log"; exit 1; }
    sleep 0.2
  done
  grep -q "xinyi is ready" "$log" || { echo "the server never said it was ready:"; cat "$log"; exit 1; }
  if ! (cd "$tmp" && env "$@" "$bin/xinyi" demo-walkthrough --base "http://127.0.0.1:$port" --out "$tmp/$name-demo"); then
    echo "---- server log"; tail -n 80 "$log"; exit 1
  fi
  cleanup
}

base_env=(-u DATABASE_URL -u REDIS_URL -u WECHAT_API_BASE XINYI_ENV=dev)
walk embedded "${base_env[@]}" XINYI_VAR_DIR="$tmp/var-embedded"

pg_db="xinyi_walk_$$"
psql "$pg_admin_url" -q -c "CREATE DATABASE $pg_db" >/dev/null
db_url="${pg_admin_url%/*}/$pg_db"
walk_redis="${WALK_REDIS_URL:-redis://127.0.0.1:6379/12}"
redis-cli -u "$walk_redis" flushdb >/dev/null  # a Redis database of its own, like the tests' (9)
WORKERS=2 walk postgres "${base_env[@]}" XINYI_VAR_DIR="$tmp/var-pg" DATABASE_URL="$db_url" \
  REDIS_URL="$walk_redis"
