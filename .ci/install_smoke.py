"""Helpers of .ci/install_smoke.sh (standard library only; run by whichever Python the step names).

expected-commands SRC     the `xinyi` sub-commands the source registers (@command("name", ...), @X.command(...))
check-wheel WHEEL SRC     every package module and data file of SRC is in WHEEL; tests and bench are not
check-installed CHECKOUT  (the fresh venv's Python) every module of the installed distribution imports,
                          from the venv's site-packages and not from CHECKOUT; the console script loads
http METHOD URL [JSON]    print the HTTP status, then the body (when curl is absent)
login-token               read a login response on stdin; exit 1 unless it has an access_token
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
import sysconfig
import urllib.error
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

NOT_SHIPPED = {"tests", "bench"}  # top-level folders of the checkout that stay out of the wheel
DATA_SUFFIXES = {".json", ".html", ".js", ".css", ".png", ".svg", ".ico"}  # pyproject's package-data
DISTRIBUTION = "xinyi"


def fail(message: str) -> int:
    print(f"install smoke: {message}", file=sys.stderr)
    return 1


def _top_level_packages(src: Path) -> list[Path]:
    return sorted(
        p
        for p in src.iterdir()
        if p.is_dir()
        and (p / "__init__.py").is_file()
        and p.name not in NOT_SHIPPED
        and p.name.isidentifier()
    )


def expected_commands(src: Path) -> int:
    # @command("serve", ...), @COMMANDS.command(\n    "import-records", ...)
    pattern = re.compile(r"@(?:\w+\.)*command\(\s*[\"']([a-z0-9][a-z0-9-]*)[\"']")
    names: list[str] = []
    for package in _top_level_packages(src):
        for path in sorted(package.rglob("*.py")):
            names += pattern.findall(path.read_text(encoding="utf-8"))
    if not names:
        return fail(f"no @command(...) registrations found under {src}")
    print("\n".join(dict.fromkeys(names)))
    return 0


def check_wheel(wheel: Path, src: Path) -> int:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = []
    for package in _top_level_packages(src):
        for path in package.rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
                wanted.append(path.relative_to(src).as_posix())
    missing = sorted(set(wanted) - shipped)
    stray = sorted(n for n in shipped if n.split("/", 1)[0] in NOT_SHIPPED)
    if missing:
        return fail(f"{wheel.name} lacks {len(missing)} file(s) of the checkout:\n  " + "\n  ".join(missing))
    if stray:
        return fail(f"{wheel.name} ships what should stay in the checkout:\n  " + "\n  ".join(stray[:20]))
    tops = sorted(
        {n.split("/", 1)[0] for n in shipped if "/" in n and not n.split("/", 1)[0].endswith(".dist-info")}
    )
    print(f"{wheel.name}: {len(wanted)} module and data files, top-level packages: {', '.join(tops)}")
    return 0


def check_installed(checkout: Path) -> int:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    checkout = checkout.resolve()
    on_path = [p for p in sys.path if p and Path(p).resolve().is_relative_to(checkout)]
    if on_path:
        return fail(f"the checkout is on sys.path: {on_path}")
    dist = metadata.distribution(DISTRIBUTION)
    files = dist.files or []
    tops = sorted(
        {
            f.parts[0]
            for f in files
            if len(f.parts) > 1 and f.name == "__init__.py" and f.parts[0].isidentifier()
        }
    )
    if not tops:
        return fail(f"the installed {DISTRIBUTION} has no packages")
    errors = []
    count = 0
    for top in tops:
        package = importlib.import_module(top)
        names = [top] + [
            m.name
            for m in pkgutil.walk_packages(package.__path__, top + ".")
            if m.name.rsplit(".", 1)[-1] != "__main__"
        ]
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - reported with the module's name
                errors.append(f"import {name}: {type(exc).__name__}: {exc}")
                continue
            count += 1
            where = Path(module.__file__ or "").resolve()
            if not where.is_relative_to(site):
                errors.append(f"{name} is imported from {where}, not from {site}")
    scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
    for ep in scripts:
        try:
            target = ep.load()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"console script {ep.name} = {ep.value}: {type(exc).__name__}: {exc}")
            continue
        where = Path(sys.modules[target.__module__].__file__ or "").resolve()
        if not where.is_relative_to(site):
            errors.append(f"console script {ep.name} runs {where}, not a file of {site}")
    if not any(ep.name == DISTRIBUTION for ep in scripts):
        errors.append(f"no `{DISTRIBUTION}` console script")
    if errors:
        return fail("the installed package is not self-contained:\n  " + "\n  ".join(errors))
    print(f"{count} modules of {', '.join(tops)} import from {site}")
    return 0


def http(method: str, url: str, body: str | None = None) -> int:
    data = body.encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    except OSError as exc:
        status, payload = 0, str(exc).encode()
    print(status)
    sys.stdout.write(payload.decode(errors="replace"))
    return 0


def login_token() -> int:
    try:
        body = json.load(sys.stdin)
    except ValueError:
        return fail("the login response is not JSON")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        return fail(
            f"the login response has no access_token: {sorted(body) if isinstance(body, dict) else body}"
        )
    return 0


def main(argv: list[str]) -> int:
    match argv:
        case ["expected-commands", src]:
            return expected_commands(Path(src))
        case ["check-wheel", wheel, src]:
            return check_wheel(Path(wheel), Path(src))
        case ["check-installed", checkout]:
            return check_installed(Path(checkout))
        case ["http", method, url]:
            return http(method, url)
        case ["http", method, url, body]:
            return http(method, url, body)
        case ["login-token"]:
            return login_token()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
