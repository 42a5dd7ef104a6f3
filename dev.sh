#!/usr/bin/env bash
# The README's commands, so a person and CI run the same thing.
#   ./dev.sh demo   set up, start the sandbox, run reconcile_platform on it (twice: the second
#                   run must report no changes)
#   ./dev.sh test   set up, then ruff, mypy and the whole pytest suite
#   ./dev.sh setup  only the set-up step
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  fi
  UV=$(command -v uv || echo "$HOME/.local/bin/uv")
  "$UV" sync --frozen --quiet
  # System packages the integration tests use, where this machine can install them (Debian).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    if [ ${#need[@]} -gt 0 ]; then
      (apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
        (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null 2>&1)) ||
        echo "note: could not install ${need[*]}; the tests that need them will say so" >&2
    fi
  fi
}

case "${1:-}" in
  setup) setup ;;
  test)
    setup
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
