#!/usr/bin/env bash
# The README's commands, so a person and CI run the same thing.
#   ./dev.sh demo   set up, start the sandbox, run reconcile_platform on it (twice: the second
#                   run must report no changes). Installs nothing outside this directory.
#   ./dev.sh test   set up, install the system services the suite needs (root on Debian) or name
#                   the missing ones, then ruff, mypy and the whole pytest suite
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
  # The platform's certificate store, as pip and git use (a proxy's CA on a corporate network).
  # UV_NATIVE_TLS is the name uv before 0.12 reads.
  UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} UV_NATIVE_TLS=${UV_NATIVE_TLS:-1} UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --quiet --python "$(command -v "$PYTHON")" ||
    die "uv sync failed (see above)"
}

# System services the integration tests use. As root on Debian they are installed; elsewhere each
# missing one is named, and the tests that need it fail under CI (PLATFORM_OPS_REQUIRE_SERVICES=1).
test_services() {
  local need=()
  command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] ||
    need+=(prometheus-alertmanager)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
  [ ${#need[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing ${need[*]} (Alertmanager: real-Alertmanager tests; Chromium: UI tests;" \
      "kubectl: client tests; mariadb/pg_dump: database backup drills)" >&2
    (apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
      (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null 2>&1)) &&
      return
  fi
  echo "dev.sh: missing system packages: ${need[*]} (install them with your package manager);" \
    "the tests that need them skip, or fail when PLATFORM_OPS_REQUIRE_SERVICES=1" >&2
}

case "${1:-}" in
  setup) setup ;;
  test)
    setup
    test_services
    .venv/bin/ruff check .
    .venv/bin/mypy
    .venv/bin/pytest -q -n 2 --dist loadgroup "${@:2}"
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
