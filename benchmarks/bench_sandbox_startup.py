"""How long `python -m sandbox up` takes to be ready (env file written) and to stop on SIGTERM.

    .venv/bin/python benchmarks/bench_sandbox_startup.py [--runs N]

Prints one line per run and the median; exits 1 when the median start exceeds the 5 s budget.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 5.0


def one_run(workdir: Path) -> tuple[float, float]:
    env_file = workdir / "sandbox.env"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--env-file", str(env_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not env_file.exists():
            if proc.poll() is not None:
                raise SystemExit(f"sandbox exited with {proc.returncode}: {proc.stderr.read()}")
            if time.monotonic() - started > 60:
                raise SystemExit("sandbox not ready after 60 s")
            time.sleep(0.01)
        ready = time.monotonic() - started
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        return ready, time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    readies, stops = [], []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            ready, stop = one_run(Path(tmp))
        readies.append(ready)
        stops.append(stop)
        print(f"run {n + 1}: ready in {ready:.2f} s, stopped in {stop:.2f} s")
    median = statistics.median(readies)
    print(f"median ready: {median:.2f} s (budget {BUDGET_S:.0f} s)")
    # The last line: the figures as one JSON object, for programs.
    print(json.dumps({"runs": len(readies), "ready_median_s": round(median, 3),
                      "ready_s": [round(r, 3) for r in readies],
                      "stop_s": [round(s, 3) for s in stops], "budget_s": BUDGET_S}))
    return 0 if median < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
