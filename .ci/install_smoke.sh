#!/usr/bin/env bash
# Install smoke: the wheel built from this checkout, installed into a fresh venv in a temporary folder
# outside the checkout, is a working `xinyi`: migrate, every sub-command listed, serve (/healthz, one
# resident login). Run from an empty folder with PYTHONPATH unset, on a SQLite file of its own, without
# REDIS_URL. Exits non-zero with a message (and the server's log) on any failure; leaves nothing behind.
#
#   bash .ci/install_smoke.sh          PYTHON=python3.12 bash .ci/install_smoke.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd -P)"
helper="$root/.ci/install_smoke.py"
PYTHON="${PYTHON:-python3}"
ready_timeout=60 # seconds for `xinyi serve` to answer /healthz
started=$SECONDS

tmp="$(mktemp -d "${TMPDIR:-/tmp}/xinyi-install-smoke.XXXXXX")"
tmp="$(cd "$tmp" && pwd -P)"
src="$tmp/src" dist="$tmp/dist" venv="$tmp/venv" work="$tmp/work"
server_pid=""

step() { printf '== install smoke [%3ss] %s\n' "$((SECONDS - started))" "$*"; }
die() {
  echo "install smoke FAILED: $*" >&2
  if [[ -s "$tmp/serve.log" ]]; then
    echo "---- last lines of the server log ($tmp/serve.log)" >&2
    tail -n 60 "$tmp/serve.log" >&2
    echo "----" >&2
  fi
  exit 1
}

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  local pid=$server_pid target=$server_pid
  server_pid=""
  # `setsid` gave it a process group of its own: Sanic's worker processes are stopped with it.
  if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then target="-$pid"; fi
  local since=$SECONDS
  kill -INT -- "$target" 2>/dev/null || true
  for _ in $(seq 1 100); do # up to 20 s for a graceful stop
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "install smoke: warning: xinyi serve did not stop within 20 s of SIGINT; SIGKILL" >&2
  elif ((SECONDS - since > 5)); then
    echo "install smoke: warning: xinyi serve took $((SECONDS - since)) s to stop; its log:" >&2
    tail -n 15 "$tmp/serve.log" >&2
  fi
  kill -KILL -- "$target" 2>/dev/null || true # and whatever of its group is left
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_server
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "$tmp/" in "$root"/*) die "the temporary folder $tmp is inside the checkout $root (TMPDIR?)" ;; esac
command -v "$PYTHON" >/dev/null || die "no $PYTHON"

# --- build --------------------------------------------------------------------------------------------
# From a copy of the checkout's files (tracked and new, not ignored): the build writes build/ and
# *.egg-info next to the sources, and setuptools would pack stale files from an old build/lib.
step "copy the checkout to $src"
mkdir -p "$src" "$dist" "$work"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (
    cd "$root"
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -
  ) | tar -xf - -C "$src"
else
  tar -C "$root" --exclude=.git --exclude=.venv --exclude=var --exclude=build --exclude=dist \
    --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$src"
fi

step "fresh venv in $venv ($("$PYTHON" --version 2>&1))"
"$PYTHON" -m venv "$venv"
py="$venv/bin/python"

step "build the wheel"
if ! "$py" -m pip wheel --no-deps -v -w "$dist" "$src" >"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log" >&2
  die "the wheel does not build"
fi
# Warnings that our own configuration causes (setuptools deprecations, packages left out, ...).
if grep -E '[[:alnum:]_]Warning: ' "$tmp/build.log" >"$tmp/build-warnings.log"; then
  cat "$tmp/build-warnings.log" >&2
  die "building the wheel warns (above; the whole log: pip wheel -v .)"
fi
wheels=("$dist"/xinyi-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "expected one xinyi wheel in $dist, found: $(ls "$dist")"
wheel="${wheels[0]}"
"$PYTHON" "$helper" check-wheel "$wheel" "$src" || die "the wheel is incomplete"
expected_commands="$("$PYTHON" "$helper" expected-commands "$src")" || die "cannot list the sub-commands of the source"

step "install $(basename "$wheel") with its dependencies"
"$py" -m pip install "$wheel" >"$tmp/install.log" 2>&1 || { tail -n 40 "$tmp/install.log" >&2; die "pip install of the wheel failed"; }
xinyi="$venv/bin/xinyi"
[[ -x "$xinyi" ]] || die "the wheel installs no xinyi command"
rm -rf "$src" # nothing below may use the sources

# --- run, from an empty folder, as a user would --------------------------------------------------------
cd "$work"
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP DATABASE_URL REDIS_URL WECHAT_API_BASE VIRTUAL_ENV
export PYTHONNOUSERSITE=1 PYTHONSAFEPATH=1
export XINYI_ENV=dev XINYI_VAR_DIR="$tmp/var" # the SQLite file: $tmp/var/xinyi.sqlite3
export PATH="$venv/bin:$PATH"

step "the installed package imports from the venv, not from $root"
"$py" "$helper" check-installed "$root" || die "the installed package is not self-contained"

step "xinyi --help"
"$xinyi" --help >"$tmp/help.txt" 2>&1 || { cat "$tmp/help.txt" >&2; die "xinyi --help failed"; }
listed="$(grep -o '{[^}]*}' "$tmp/help.txt" | head -n 1 | tr -d '{}' | tr ',' '\n')" # argparse's choices
for name in $expected_commands; do
  grep -qx -- "$name" <<<"$listed" || { cat "$tmp/help.txt" >&2; die "xinyi --help does not list \`$name\`"; }
done
echo "   $(wc -w <<<"$expected_commands") sub-commands listed: $(tr '\n' ' ' <<<"$expected_commands")"

step "xinyi migrate (SQLite in $XINYI_VAR_DIR)"
"$xinyi" migrate || die "xinyi migrate failed"
[[ -s "$XINYI_VAR_DIR/xinyi.sqlite3" ]] || die "xinyi migrate wrote no $XINYI_VAR_DIR/xinyi.sqlite3"
"$xinyi" makemigrations --check || die "the installed models differ from the installed migrations"

# --- serve --------------------------------------------------------------------------------------------
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
step "xinyi serve --port $port"
own_group=(setsid) # a process group of its own, stopped as one (without setsid: the main process only)
command -v setsid >/dev/null || own_group=()
"${own_group[@]}" "$xinyi" serve --host 127.0.0.1 --port "$port" >"$tmp/serve.log" 2>&1 &
server_pid=$!

# request METHOD PATH [JSON]: sets $status and $body (curl, else the helper's urllib)
if command -v curl >/dev/null; then
  request() {
    local args=(-sS -m 10 -o "$tmp/body" -w '%{http_code}' -X "$1" "$base$2")
    [[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' --data-binary "$3")
    : >"$tmp/body"
    status="$(curl "${args[@]}" 2>/dev/null)" || status=000
    body="$(cat "$tmp/body")"
  }
else
  request() {
    local out
    out="$("$py" "$helper" http "$1" "$base$2" "${@:3}")" || out=000
    status="${out%%$'\n'*}"
    body="${out#*$'\n'}"
  }
fi

deadline=$((SECONDS + ready_timeout))
until request GET /healthz && [[ "$status" == 200 ]]; do
  kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid" && rc=0 || rc=$?; server_pid=""; die "xinyi serve exited (status $rc) before answering /healthz"; }
  ((SECONDS < deadline)) || die "xinyi serve did not answer GET /healthz with 200 within ${ready_timeout}s (last: $status)"
  sleep 0.5
done
echo "   GET /healthz -> $status $body"

request POST /api/v1/mp/auth/login '{"code": "mock:smoke-openid:1"}'
[[ "$status" == 200 ]] || die "POST /api/v1/mp/auth/login -> $status: $body"
"$py" "$helper" login-token <<<"$body" || die "POST /api/v1/mp/auth/login -> 200 without an access_token: $body"
echo "   POST /api/v1/mp/auth/login -> $status, access_token present"

# SIGINT before Sanic's manager has seen its worker's start-up acknowledgement stalls the shutdown
# (10 s, or until SIGKILL): let the worker report itself ready first.
for _ in $(seq 1 50); do
  grep -q 'Worker ready' "$tmp/serve.log" && break
  sleep 0.2
done
sleep 1
step "stop the server (SIGINT)"
stop_server
if grep -n -B2 -A20 'Traceback (most recent call last)' "$tmp/serve.log" >&2; then
  die "the server logged a traceback (above)"
fi
step "passed"
