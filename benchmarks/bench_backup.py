"""Backup streaming throughput and memory: our dump pipeline vs ``aws s3 cp`` of the same bytes.

Generates a dump-like SQL file (default 1 GiB), starts the sandbox in a child process, then:

1. ours: ``DatabaseDumpResource`` streams the file through a child process's stdout (``cat``
   stands in for ``mariadb-dump``: same pipe, gzip, sha256 and multipart code), into the
   sandbox S3; peak RSS is measured in a fresh child process, so it is ours alone;
2. ``aws s3 cp`` of the same file to the same endpoint (awscli from PyPI), peak RSS of the child.

Prints a table; ``--results`` appends it to ``benchmarks/RESULTS.md``. Usage::

    .venv/bin/python benchmarks/bench_backup.py [--size-mb 1024] [--results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

OURS = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from resources.database import DatabaseDumpResource
from resources.object_storage import ObjectStorageResource
env = json.loads(sys.argv[2]); path = sys.argv[3]; bucket = sys.argv[4]
level = int(sys.argv[5])
store = ObjectStorageResource(access_key_id=env["AWS_ACCESS_KEY_ID"],
    secret_access_key=env["AWS_SECRET_ACCESS_KEY"], endpoint_url=env["AWS_ENDPOINT_URL_S3"],
    default_region="de")
db = DatabaseDumpResource(host="unused", compress_level=level)
t0 = time.monotonic()
result = store.upload_stream(bucket, f"ours/dump-{level}.sql.gz",
                             db._stream(["cat", path], "bench"),
                             content_type="application/gzip")
seconds = time.monotonic() - t0
print(json.dumps({"seconds": seconds, "uploaded": result.size, "parts": result.parts,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

AWS_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def generate(path: Path, size: int) -> None:
    """A mysqldump-shaped file: INSERT statements of mixed text and numbers."""
    rng = random.Random(42)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10))))
             for _ in range(5000)]
    with path.open("wb") as f:
        f.write(b"-- generated dump\nCREATE TABLE `posts` (id INT, title TEXT, body TEXT, "
                b"score DOUBLE);\n")
        written, i = 0, 0
        while written < size:
            rows = []
            for _ in range(200):
                i += 1
                title = " ".join(rng.choices(words, k=6))
                body = " ".join(rng.choices(words, k=rng.randint(20, 120)))
                rows.append(f"({i},'{title}','{body}',{rng.random():.6f})")
            line = ("INSERT INTO `posts` VALUES " + ",".join(rows) + ";\n").encode()
            f.write(line)
            written += len(line)


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env_file = workdir / "sandbox.env"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--env-file", str(env_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the sandbox did not start")
        time.sleep(0.2)
    env = {}
    for line in env_file.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v.strip().strip("'\"")
    return proc, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--results", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    import boto3

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        work = Path(tmp)
        dump = work / "dump.sql"
        t0 = time.monotonic()
        generate(dump, args.size_mb * 1024 * 1024)
        size = dump.stat().st_size
        print(f"generated {size / 2**20:.0f} MiB in {time.monotonic() - t0:.1f}s", flush=True)
        sandbox, env = start_sandbox(work)
        try:
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="de",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            bucket = "bench-backup"
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": "de"})
            runs = {}
            for level in (1, 0):
                out = subprocess.run([sys.executable, "-c", OURS, str(ROOT), json.dumps(env),
                                      str(dump), bucket, str(level)], capture_output=True,
                                     text=True, check=True)
                runs[level] = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"ours, gzip level {level}: {runs[level]}", flush=True)
            ours = runs[1]
            aws_env = {**os.environ, "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
                       "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
                       "AWS_DEFAULT_REGION": "de"}
            # A fresh wrapper process, so the peak RSS is the aws CLI's alone.
            t0 = time.monotonic()
            out = subprocess.run([sys.executable, "-c", AWS_WRAPPER, str(VENV_BIN / "aws"), "s3",
                                  "cp", str(dump), f"s3://{bucket}/aws/dump.sql",
                                  "--endpoint-url", env["AWS_ENDPOINT_URL_S3"],
                                  "--only-show-errors"],
                                 env=aws_env, capture_output=True, text=True, check=True)
            aws_seconds = time.monotonic() - t0
            aws_rss_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
        finally:
            sandbox.send_signal(signal.SIGTERM)
            try:
                sandbox.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sandbox.kill()
    mib = size / 2**20
    ratio = aws_seconds / ours["seconds"]
    table = "\n".join([
        f"Source: {mib:.0f} MiB generated SQL dump; sandbox S3 (moto behind the proxy) on "
        "127.0.0.1; 2 shared cores.",
        "",
        "| | seconds | source MiB/s | bytes uploaded | peak RSS MiB |",
        "|---|---|---|---|---|",
        *(f"| ours (pipe → gzip -{lvl} on 2 threads → sha256 → multipart 8 MiB x6) | "
          f"{r['seconds']:.1f} | {mib / r['seconds']:.1f} | {r['uploaded']:,} | "
          f"{r['peak_rss_mb']:.0f} |" for lvl, r in runs.items()),
        f"| aws s3 cp (same file, same endpoint) | {aws_seconds:.1f} | "
        f"{mib / aws_seconds:.1f} | {size:,} | {aws_rss_mb:.0f} |",
        "",
        f"Throughput ratio ours/aws (source bytes per second): **{ratio:.2f}** with gzip -1, "
        f"**{aws_seconds / runs[0]['seconds']:.2f}** with gzip -0 (stored) (goal ≥ 0.8); our "
        f"peak RSS {max(r['peak_rss_mb'] for r in runs.values()):.0f} MiB (goal < 300).",
    ])
    print(table)
    if args.results:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            f.write(f"\n## Backups: streaming a dump to S3 vs aws s3 cp "
                    f"({time.strftime('%Y-%m-%d', time.gmtime())})\n\n{table}\n")
    # The last line: the figures as one JSON object, for programs.
    print(json.dumps({
        "source_mib": round(mib, 1),
        "ours_gzip1_s": round(runs[1]["seconds"], 3),
        "ours_gzip0_s": round(runs[0]["seconds"], 3),
        "aws_s3_cp_s": round(aws_seconds, 3),
        "throughput_ratio_gzip1": round(ratio, 3),
        "throughput_ratio_gzip0": round(aws_seconds / runs[0]["seconds"], 3),
        "ours_peak_rss_mib": round(max(r["peak_rss_mb"] for r in runs.values()), 1),
        "aws_peak_rss_mib": round(aws_rss_mb, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
