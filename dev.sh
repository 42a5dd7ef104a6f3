#!/usr/bin/env bash
# The README's commands, so a person and CI run the same thing.
#   ./dev.sh demo   set up, start the sandbox, run reconcile_platform on it (twice: the second
#                   run must report no changes). Installs nothing outside this directory.
#   ./dev.sh test   set up, install the system services the suite needs (root on Debian) or name
#                   the missing ones, then ruff, mypy, `dagster definitions validate` and
#                   `dg check defs`, and the whole pytest suite with line coverage per package
#                   (unit, integration, all)
#   ./dev.sh setup  only the set-up step (the project's .venv)
set -euo pipefail
cd "$(dirname "$0")"

TOOLS=.venv-tools
PYTHON=${PYTHON:-python3}

die() {
  echo "dev.sh: $*" >&2
  exit 1
}

# uv from PATH, else from a private venv of this checkout. Debian and Ubuntu's system Python
# refuses `pip install --user` (PEP 668), so uv goes into a venv of its own, pinned by hash;
# nothing is installed into the system or the user's site-packages.
find_uv() {
  if command -v uv >/dev/null 2>&1; then
    command -v uv
    return
  fi
  if [ ! -x "$TOOLS/bin/uv" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 ||
      die "no $PYTHON on PATH: install Python 3.11-3.13 (Debian/Ubuntu: apt-get install python3 python3-venv)"
    "$PYTHON" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' ||
      die "$($PYTHON --version 2>&1) is not supported: platform-ops needs Python 3.11, 3.12 or 3.13"
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
      ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      die "$PYTHON has no venv module: on Debian or Ubuntu, apt-get install python${ver}-venv (or python3-venv)"
    fi
    echo "dev.sh: installing uv into $TOOLS/ (a private venv; uv is not on PATH)" >&2
    rm -rf "$TOOLS"
    "$PYTHON" -m venv "$TOOLS" || die "$PYTHON -m venv $TOOLS failed (Debian/Ubuntu: apt-get install python3-venv)"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --require-hashes -r tools/uv-requirements.txt ||
      { rm -rf "$TOOLS"; die "could not install uv from PyPI into $TOOLS (see pip's message above)"; }
  fi
  echo "$TOOLS/bin/uv"
}

setup() {
  local uv
  uv=$(find_uv)
  # The project's Python is the one on PATH (never a download): a fresh machine has no other.
  # Named by its real path: given a launcher such as pyenv's shim, uv recreated .venv on every
  # sync (its interpreter path differed from the venv's).
  local python
  python=$("$PYTHON" -c 'import sys; print(sys.executable)') ||
    die "$PYTHON does not run (see above)"
  # The platform's certificate store, as pip and git use (a proxy's CA on a corporate network).
  # UV_NATIVE_TLS is the name uv before 0.12 reads.
  UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} UV_NATIVE_TLS=${UV_NATIVE_TLS:-1} UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --quiet --python "$python" ||
    die "uv sync failed (see above)"
  compile_bytecode
}

# The installed packages compiled to bytecode once per lock file, as the image is built
# (UV_COMPILE_BYTECODE=1): with PYTHONDONTWRITEBYTECODE set, or a read-only venv, every process
# (the sandbox, each Dagster run, the volume agent) would otherwise compile Dagster, boto3 and
# the SDKs from source on start, about a second each. uv's --compile-bytecode redoes the whole
# tree on every sync; compileall skips what is current, and the stamp skips even that.
compile_bytecode() {
  local stamp=.venv/.bytecode-compiled want
  want=$(cat uv.lock .venv/pyvenv.cfg | cksum)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  .venv/bin/python -m compileall -q -j 0 .venv/lib/python*/site-packages >/dev/null 2>&1 || true
  echo "$want" >"$stamp"
}

# Whether something answers on 127.0.0.1:$1 (bash's /dev/tcp; no client needed).
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# System services the integration tests use: binaries (Alertmanager: real-Alertmanager tests;
# Chromium: UI tests; kubectl: client and manifest tests; mariadb/pg_dump: database backups and
# drills) and servers on 127.0.0.1 (MariaDB on 3306 behind the DBaaS emulator and the drills;
# PostgreSQL on 5432, user postgres without a password, as the Dagster instance storage). As root
# on Debian missing ones are installed and started; elsewhere each is named, and with
# PLATFORM_OPS_REQUIRE_SERVICES=1 (CI) a missing one is an error here and in the tests.
test_services() {
  local need=() down=()
  command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] ||
    need+=(prometheus-alertmanager)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/kubectl ] || need+=(kubectl)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
  listening 3306 || { need+=(mariadb-server); down+=(mariadb); }
  listening 5432 || { need+=(postgresql); down+=(postgresql); }
  [ ${#need[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing ${need[*]}" >&2
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
      (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null 2>&1) ||
      true
    for svc in "${down[@]}"; do
      service "$svc" start >/dev/null 2>&1 || true
    done
    need=()
    command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -x /usr/bin/kubectl ] || need+=(kubectl)
    command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
    command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
    listening 3306 || need+=("mariadb-server (listening on 127.0.0.1:3306)")
    listening 5432 || need+=("postgresql (listening on 127.0.0.1:5432)")
    [ ${#need[@]} -eq 0 ] && return
  fi
  local missing
  missing=$(printf '%s, ' "${need[@]}")
  if [ "${PLATFORM_OPS_REQUIRE_SERVICES:-}" = 1 ]; then
    die "missing system services: ${missing%, } (install and start them; PLATFORM_OPS_REQUIRE_SERVICES=1 runs no test without them)"
  fi
  echo "dev.sh: missing system services: ${missing%, } (install them with your package manager);" \
    "the tests that need them skip, or fail when PLATFORM_OPS_REQUIRE_SERVICES=1" >&2
}

case "${1:-}" in
  setup) setup ;;
  test)
    setup
    test_services
    .venv/bin/ruff check .
    .venv/bin/mypy
    # The code location loads as the webserver and dg load it (both at once: ~15 s together).
    defs_env=(env DAGSTER_DISABLE_TELEMETRY=1 VIRTUAL_ENV="$PWD/.venv")
    "${defs_env[@]}" .venv/bin/dagster definitions validate &
    validate=$!
    "${defs_env[@]}" .venv/bin/dg check defs || die "dg check defs failed (see above)"
    wait "$validate" || die "dagster definitions validate failed (see above)"
    # Line coverage per package, unit and integration tests apart, printed even when a test
    # fails; the suite's exit status is the command's.
    status=0
    .venv/bin/pytest -q -n 2 --dist loadgroup --cov --cov-context=test --cov-report= "${@:2}" ||
      status=$?
    .venv/bin/python -m tools.coverage_report || true
    exit "$status"
    ;;
  demo)
    setup
    .venv/bin/python -m platform_assets demo "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh demo|test|setup" >&2
    exit 64
    ;;
esac
