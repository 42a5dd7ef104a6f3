"""Command line of the sandbox.

    python -m sandbox up --env-file FILE [--state-dir DIR] [--delay SECONDS] [--run-jobs]
                        [--preinstall-crds]

starts every service on 127.0.0.1, writes FILE (KEY=VALUE lines) once all of them answer, and
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be zero or more seconds, got {text!r}")
    return value


def _cluster_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a cluster name: lowercase letters, "
                                         "digits and '-', at most 32 characters")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="A local IONOS Cloud, Kubernetes API, S3, Git, Alertmanager and TLS "
                    "endpoints for platform-ops.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start the sandbox and serve until SIGINT/SIGTERM")
    up.add_argument("--env-file", type=Path, required=True,
                    help="write the clients' environment here (KEY=VALUE lines) once ready")
    up.add_argument("--state-dir", type=Path,
                    help="keep the services' state here so it survives a restart "
                         "(default: a temporary directory, removed at exit)")
    up.add_argument("--delay", type=_non_negative, default=0.0, metavar="SECONDS",
                    help="how long IONOS resources stay BUSY and Kubernetes controllers take "
                         "(default 0)")
    up.add_argument("--run-jobs", action="store_true",
                    help="let the Kubernetes Job controller run Jobs' commands")
    up.add_argument("--preinstall-crds", action="store_true",
                    help="start with the Flux, cert-manager and external-secrets CRDs installed "
                         "and Flux's controllers taken as running (the sandbox's old behaviour; "
                         "a fresh managed cluster has none of them)")
    up.add_argument("--cluster", action="append", default=[], metavar="NAME",
                    type=_cluster_name,
                    help="also serve an existing Kubernetes cluster NAME (K3s-like: no IONOS "
                         "behind it); its kubeconfig's path is in NAME_KUBECONFIG (upper case), "
                         "its nodes come from POST /clusters/NAME/kubernetes/nodes; repeatable")
    up.add_argument("--verbose", action="store_true", help="log what the services do")
    return parser


def _up(args: argparse.Namespace) -> int:
    from sandbox.app import SandboxError, start_sandbox


    if args.state_dir is not None and args.state_dir.exists() and not args.state_dir.is_dir():
        print(f"python -m sandbox: --state-dir {args.state_dir} is not a directory",
              file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    # A waiter must never read the file of an earlier run.
    try:
        args.env_file.unlink(missing_ok=True)
    except OSError as exc:
        print(f"python -m sandbox: --env-file {args.env_file}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    try:
        sandbox = start_sandbox(state_dir=args.state_dir, delay=args.delay,
                                run_jobs=args.run_jobs,
                                preinstall_crds=args.preinstall_crds,
                                clusters=tuple(args.cluster))
    except SandboxError as exc:
        print(f"python -m sandbox: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as exc:  # unreadable state, a port or a file
        logging.getLogger(__name__).debug("start failed", exc_info=True)
        print(f"python -m sandbox: could not start: {exc}", file=sys.stderr)
        return 1
    try:
        try:
            sandbox.write_env_file(args.env_file)
        except OSError as exc:
            print(f"python -m sandbox: could not write --env-file {args.env_file}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"sandbox ready in {time.monotonic() - started:.2f}s; environment in "
              f"{args.env_file} (set -a; . {args.env_file}; set +a)", flush=True)
        for key, value in sandbox.env.items():
            if "SECRET" not in key and "PASSWORD" not in key and "TOKEN" not in key:
                print(f"  {key}={value}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        args.env_file.unlink(missing_ok=True)
    print("sandbox stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "up":
        return _up(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
