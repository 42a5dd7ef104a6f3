"""The cost of reading YAML with limits (``core.safeyaml``) against PyYAML's own libyaml loader.

Run: ``.venv/bin/python benchmarks/bench_safe_yaml.py``.

* The example spec (``platform/platform.yaml``) and every example manifest, parsed side by side,
  alternating, by ``safeyaml`` (libyaml events composed without recursion, line tracking, limits)
  and by the peer ``yaml.load_all(text, Loader=yaml.CSafeLoader)`` (libyaml's own composer and
  constructor: what the loader and the engine's manifest reader used before, with no limits).
  Reported: medians and the ratio safe / peer.
* The full spec load (``load_spec``: YAML, models and references), median.
* The hostile fixtures (``tests/fixtures/hostile``): the time and peak traced memory the safe
  reader needs to refuse each. The peer is not run on the alias bomb: it builds shared lists
  cheaply, and the gigabytes came from walking them (the old loader's copy did that).

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from platform_assets.core import safeyaml  # noqa: E402
from platform_assets.spec.loader import DEFAULT_SPEC, SpecError, load_spec  # noqa: E402

ROUNDS = 200


def _median_ms(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _side_by_side(texts: list[tuple[str, str]]) -> tuple[float, float]:
    def ours() -> None:
        for name, text in texts:
            safeyaml.load_all(text, name)

    def peer() -> None:
        for _, text in texts:
            list(yaml.load_all(text, Loader=yaml.CSafeLoader))

    ours(), peer()  # warm
    safe, base = [], []
    for _ in range(10):  # alternate, so load on the shared machine hits both alike
        safe.append(_median_ms(ours, ROUNDS // 10))
        base.append(_median_ms(peer, ROUNDS // 10))
    return statistics.median(safe), statistics.median(base)


def _refusal(path: Path) -> dict[str, object]:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        load_spec(path)
        outcome = "loaded"
    except SpecError as exc:
        outcome = exc.problems[0].message[:60]
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"fixture": path.name, "bytes": path.stat().st_size, "seconds": round(seconds, 4),
            "peak_mb": round(peak / 2**20, 2), "error": outcome}


def main() -> int:
    spec = DEFAULT_SPEC.read_text()
    manifests = [(str(p), p.read_text()) for p in sorted(
        (DEFAULT_SPEC.parent / "manifests").rglob("*.yaml"))]
    spec_safe, spec_peer = _side_by_side([("platform.yaml", spec)])
    all_safe, all_peer = _side_by_side([("platform.yaml", spec), *manifests])
    load_ms = _median_ms(lambda: load_spec(DEFAULT_SPEC))
    hostile = [_refusal(p) for p in sorted((ROOT / "tests" / "fixtures" / "hostile").glob("*"))]
    print(f"example spec YAML: safe {spec_safe:.2f} ms, libyaml peer {spec_peer:.2f} ms, "
          f"ratio {spec_safe / spec_peer:.2f}")
    print(f"spec + {len(manifests)} manifests: safe {all_safe:.2f} ms, peer {all_peer:.2f} ms, "
          f"ratio {all_safe / all_peer:.2f}")
    print(f"load_spec (YAML, models, references): {load_ms:.2f} ms")
    for row in hostile:
        print(f"refused {row['fixture']} ({row['bytes']} B) in {row['seconds']} s, "
              f"peak {row['peak_mb']} MB: {row['error']}")
    print(json.dumps({
        "spec_safe_ms": round(spec_safe, 3), "spec_peer_ms": round(spec_peer, 3),
        "spec_ratio": round(spec_safe / spec_peer, 3),
        "spec_and_manifests_safe_ms": round(all_safe, 3),
        "spec_and_manifests_peer_ms": round(all_peer, 3),
        "spec_and_manifests_ratio": round(all_safe / all_peer, 3),
        "load_spec_ms": round(load_ms, 3),
        "hostile": hostile,
        "max_refusal_s": max(float(str(r["seconds"])) for r in hostile),
        "max_refusal_peak_mb": max(float(str(r["peak_mb"])) for r in hostile),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
