"""Run the Kubernetes API emulator alone: ``python -m sandbox.kubernetes --kubeconfig FILE``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from sandbox.app import write_private
from sandbox.http import serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kubernetes", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server here")
    parser.add_argument("--state-dir", type=Path, help="keep state here across restarts")
    parser.add_argument("--controller-delay", type=float, default=0.0,
                        help="seconds an object stays unchanged before controllers act")
    parser.add_argument("--run-jobs", action="store_true",
                        help="run Job containers' command+args as local subprocesses")
    args = parser.parse_args(argv)
    world = World()
    svc = KubernetesService(world, state_dir=args.state_dir,
                            controller_delay=args.controller_delay, run_jobs=args.run_jobs)
    server = serve(svc, port=args.port)
    world.kubernetes_url = server.url
    svc.start_controllers()
    if args.kubeconfig:
        write_private(args.kubeconfig, svc.kubeconfig(server.url))
    print(f"kubernetes sandbox listening on {server.url}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    svc.stop()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
