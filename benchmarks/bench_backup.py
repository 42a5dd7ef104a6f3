"""Backup streaming throughput and memory: our dump pipeline vs ``aws s3 cp`` of the same bytes.

Generates a dump-like SQL file (default 1 GiB), starts the sandbox in a child process, then in
``--rounds`` interleaved rounds (the order reversed every other round, every object deleted
after its run so the sandbox S3 starts each run alike):

1. ours, as a backup runs with the spec's default settings (``BackupCompression``: zstd at the
   level for streams, 2 threads; ``--level`` overrides): ``DatabaseDumpResource`` reads the file
   through a child process's stdout (``cat`` stands in for ``mariadb-dump``: the same pipe), the
   backup engine compresses it with multi-threaded zstd and seals it with AES-256-GCM
   (``platform_assets.backups.streams``), and the multipart upload hashes it and sends it to the
   sandbox S3; again without encryption; peak RSS is measured in a fresh child process, so it
   is ours alone;
2. ``aws s3 cp`` of the uncompressed file to the same endpoint (awscli, a development
   dependency of the project, from PyPI through uv), peak RSS of the child; and ``aws s3 cp``
   of a 1-byte file, the CLI's own start (Python and its imports), which its time of the big
   file includes while ours starts its clock after our imports: the ratio is given both ways.

CPU seconds of each side are reported with the times (the machine may be shared): ours in the
upload, the dump generator (``cat``), the aws CLI process, and the sandbox S3 (its proxy and
moto) during each run; with the load average before each run. Both sides share the cores with
the sandbox S3, so each side's throughput is bounded by its CPU plus the sandbox's to receive
its bytes: the CPU ratio (aws s3 cp's CPU and the sandbox's for it, over ours, ``cat``'s and
the sandbox's for ours; medians of the rounds' sums) is the figure that holds when other work
loads the machine and wall times are noise.

3. a file-level volume backup (``platform_assets.backups.agent``, what the Job that mounts the
   PVC runs) of a generated volume (default 2 GiB: files of text and incompressible bytes), two
   nights with nothing changed in between: the second night's uploaded bytes and time against
   the first's (goal: at most 5% of each; dedup and the parent snapshot), peak RSS of each. The
   agent runs from compiled bytecode, as in the image (``deploy/Dockerfile`` builds the venv
   with ``UV_COMPILE_BYTECODE=1``): a warm-up run on an empty volume writes it to a private
   cache before night 1; ``--agent-from-source`` runs it as the dev venv does with
   ``PYTHONDONTWRITEBYTECODE=1`` (every module compiled on each start).

The figure issue 18 asks for is the throughput ratio in source bytes per second (aws seconds /
our seconds, medians; goal >= 1.3) and our peak RSS (goal < 300 MB). Prints a table; ``--results``
appends it to ``benchmarks/RESULTS.md``; the last line is the figures as one JSON object.
Usage::

    .venv/bin/python benchmarks/bench_backup.py [--size-mb 1024] [--rounds 3] [--level N]
        [--volume-mb 2048] [--agent-from-source] [--skip-dump] [--results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from platform_assets.spec.models import BackupCompression

# A bytecode cache directory that is never written: Python looks for .pyc only there (not in the
# venv's __pycache__), so every module is compiled from source.
NO_BYTECODE = Path("/nonexistent/platform-ops-no-bytecode")

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

OURS = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from platform_assets.backups.streams import AES_GCM_STREAM, ZSTD, Encoding, encode, key_id
from resources.database import DatabaseDumpResource
from resources.dump_tools import stream_output
from resources.object_storage import ObjectStorageResource
env = json.loads(sys.argv[2]); path = sys.argv[3]; bucket = sys.argv[4]
encrypted = sys.argv[5] == "1"; level = int(sys.argv[6]); threads = int(sys.argv[7])
store = ObjectStorageResource(access_key_id=env["AWS_ACCESS_KEY_ID"],
    secret_access_key=env["AWS_SECRET_ACCESS_KEY"], endpoint_url=env["AWS_ENDPOINT_URL_S3"],
    default_region="de")
db = DatabaseDumpResource(host="unused")
key = os.urandom(32) if encrypted else None
encoding = Encoding(ZSTD, AES_GCM_STREAM if key else None, key_id(key) if key else None)

def cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
cpu0 = cpu(resource.RUSAGE_SELF)
t0 = time.monotonic()
result = store.upload_stream(bucket, f"ours/dump.sql{encoding.suffix}",
                             encode(stream_output(["cat", path], db._env(), db.chunk_size, "bench"),
                                    encoding, key, level, threads),
                             content_type=encoding.content_type)
seconds = time.monotonic() - t0
print(json.dumps({"seconds": seconds, "uploaded": result.size, "parts": result.parts,
                  "cpu_seconds": cpu(resource.RUSAGE_SELF) - cpu0,
                  "process_cpu_seconds": cpu(resource.RUSAGE_SELF),
                  "generator_cpu_seconds": cpu(resource.RUSAGE_CHILDREN),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# Runs a command; prints the peak RSS (KiB) and CPU seconds of it (its children included) and
# the wall seconds of its process alone, from before it is started until it has exited: the
# command's time with its own start, without this wrapper's (an interpreter and four imports,
# some 30 ms), which both sides' figures counted before.
TIMED_WRAPPER = (
    "import json, resource, subprocess, sys, time; t0 = time.monotonic(); "
    "subprocess.run(sys.argv[1:], check=True); wall = time.monotonic() - t0; "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(json.dumps([u.ru_maxrss, u.ru_utime + u.ru_stime, wall]))"
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


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and of its children (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_ours(env: dict[str, str], dump: Path, bucket: str, encrypted: bool, level: int,
             threads: int) -> dict[str, float]:
    """One upload by our pipeline in a fresh child process; its figures."""
    out = subprocess.run([sys.executable, "-c", OURS, str(ROOT), json.dumps(env), str(dump),
                          bucket, "1" if encrypted else "0", str(level), str(threads)],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_aws(env: dict[str, str], dump: Path, bucket: str) -> dict[str, float]:
    """``aws s3 cp`` of the uncompressed file: seconds, peak RSS MiB and CPU of the CLI."""
    aws_env = {**os.environ, "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
               "AWS_DEFAULT_REGION": "de"}
    # A fresh wrapper process, so the peak RSS is the aws CLI's alone.
    out = subprocess.run([sys.executable, "-c", TIMED_WRAPPER, str(VENV_BIN / "aws"), "s3", "cp",
                          str(dump), f"s3://{bucket}/aws/{dump.name}", "--endpoint-url",
                          env["AWS_ENDPOINT_URL_S3"], "--only-show-errors"],
                         env=aws_env, capture_output=True, text=True, check=True)
    rss_kib, cpu, seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "peak_rss_mb": rss_kib / 1024, "cpu_seconds": cpu}


def generate_volume(root: Path, size: int, file_mb: int = 32) -> None:
    """A volume of ``file_mb`` files: each MiB a quarter random bytes (media), the rest text,
    so chunks are unique and compress as a mix does."""
    rng = random.Random(7)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))))
             for _ in range(4000)]
    text = (" ".join(rng.choices(words, k=200_000)).encode() * 2)[:768 * 1024]
    written, n = 0, 0
    while written < size:
        path = root / f"uploads/{n // 16:03d}/file-{n:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            for _ in range(file_mb):
                f.write(os.urandom(256 * 1024) + text)
        written += file_mb * 1024 * 1024
        n += 1


def run_agent_night(env: dict[str, str], source: Path, bucket: str, partition: str,
                    parent: dict[str, object] | None, bytecode: Path | None,
                    target: str = "vol") -> dict[str, float]:
    """One night of the volume agent in a fresh child: its result, wall seconds, peak RSS and
    CPU; with ``bytecode``, the agent reads and writes compiled modules there."""
    index_key = f"backups/{target}/{partition}/a-{partition}/index.json.zst.enc"
    argv = [str(VENV_BIN / "python"), "-m", "platform_assets.backups.agent", "backup",
            "--source", str(source), "--bucket", bucket, "--region", "de", "--prefix", "backups",
            "--target", target, "--partition", partition, "--attempt", f"a-{partition}",
            "--index-key", index_key, "--endpoint-url", env["AWS_ENDPOINT_URL_S3"],
            "--key-env", "BENCH_BACKUP_KEY"]
    if parent:
        argv += ["--parent-key", str(parent["index_key"]),
                 "--parent-sha256", str(parent["index_sha256"])]
    agent_env = {**os.environ, "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
                 "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
                 "BENCH_BACKUP_KEY": "00" * 32}
    if bytecode is not None:
        agent_env.pop("PYTHONDONTWRITEBYTECODE", None)
        agent_env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    else:  # compiled on start: ignore the .pyc that ./dev.sh setup puts into the venv
        agent_env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(NO_BYTECODE))
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", TIMED_WRAPPER, *argv], env=agent_env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    result = dict(json.loads(lines[-2])["result"])
    rss_kib, cpu, wall = json.loads(lines[-1])
    result.update(wall_seconds=wall, wrapper_wall_seconds=time.monotonic() - t0,
                  peak_rss_mb=rss_kib / 1024, cpu_seconds=cpu)
    return result


def measure_volume(volume_mb: int, from_source: bool) -> dict[str, float]:
    """Two unchanged nights of a generated volume through the volume agent."""
    import boto3

    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        generate_volume(work / "volume", volume_mb * 1024 * 1024)
        print(f"generated a {volume_mb} MiB volume in {time.monotonic() - t0:.1f}s", flush=True)
        sandbox, env = start_sandbox(work)
        bytecode = None if from_source else work / "bytecode"
        try:
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="de",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            s3.create_bucket(Bucket="bench-volume",
                             CreateBucketConfiguration={"LocationConstraint": "de"})
            if bytecode is not None:
                (work / "empty").mkdir()
                run_agent_night(env, work / "empty", "bench-volume", "2026-11-19", None,
                                bytecode, target="warm-up")
            first = run_agent_night(env, work / "volume", "bench-volume", "2026-11-20", None,
                                    bytecode)
            print(f"night 1: {first}", flush=True)
            second = run_agent_night(env, work / "volume", "bench-volume", "2026-11-21", first,
                                     bytecode)
            print(f"night 2: {second}", flush=True)
        finally:
            sandbox.send_signal(signal.SIGTERM)
            try:
                sandbox.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sandbox.kill()
    return {
        "volume_mib": volume_mb,
        "agent_bytecode": 0 if from_source else 1,
        "night1_uploaded_bytes": int(first["uploaded_bytes"]),
        "night2_uploaded_bytes": int(second["uploaded_bytes"]),
        "night1_backup_s": round(float(first["seconds"]), 3),
        "night2_backup_s": round(float(second["seconds"]), 3),
        "night1_wall_s": round(float(first["wall_seconds"]), 3),
        "night2_wall_s": round(float(second["wall_seconds"]), 3),
        "night1_cpu_s": round(float(first["cpu_seconds"]), 3),
        "night2_cpu_s": round(float(second["cpu_seconds"]), 3),
        "night2_bytes_fraction": round(int(second["uploaded_bytes"])
                                       / max(1, int(first["uploaded_bytes"])), 5),
        "night2_time_fraction": round(float(second["seconds"]) / float(first["seconds"]), 5),
        "night2_wall_fraction": round(float(second["wall_seconds"])
                                      / float(first["wall_seconds"]), 5),
        # As measured before: the measuring wrapper's start included in both nights.
        "night1_wrapper_wall_s": round(float(first["wrapper_wall_seconds"]), 3),
        "night2_wrapper_wall_s": round(float(second["wrapper_wall_seconds"]), 3),
        "night2_wrapper_wall_fraction": round(float(second["wrapper_wall_seconds"])
                                              / float(first["wrapper_wall_seconds"]), 5),
        "volume_peak_rss_mib": round(max(first["peak_rss_mb"], second["peak_rss_mb"]), 1),
    }


def volume_table(f: dict[str, float]) -> str:
    """The volume figures as Markdown."""
    return "\n".join([
        f"Volume: {f['volume_mib']} MiB generated files; the volume agent (chunks 4 MiB, zstd-3, "
        "AES-256-GCM) to the sandbox S3; night 2 with nothing changed; the agent started "
        + ("from compiled bytecode, as in the image." if f["agent_bytecode"] else
           "from source (every module compiled on start)."),
        "",
        "| | uploaded bytes | backup s | wall s (the agent's process, start included) | "
        "agent CPU s |",
        "|---|---|---|---|---|",
        f"| night 1 | {f['night1_uploaded_bytes']} | {f['night1_backup_s']:.1f} | "
        f"{f['night1_wall_s']:.1f} | {f['night1_cpu_s']:.2f} |",
        f"| night 2 | {f['night2_uploaded_bytes']} | {f['night2_backup_s']:.2f} | "
        f"{f['night2_wall_s']:.3f} | {f['night2_cpu_s']:.2f} |",
        "",
        f"Night 2 / night 1: bytes {f['night2_bytes_fraction']:.4f}, backup time "
        f"{f['night2_time_fraction']:.4f}, wall time {f['night2_wall_fraction']:.4f} (goal ≤ "
        f"0.05); with the measuring wrapper's start, as measured before this entry: "
        f"{f['night2_wrapper_wall_s']:.3f} s, {f['night2_wrapper_wall_fraction']:.4f}; peak "
        f"RSS {f['volume_peak_rss_mib']:.0f} MiB (goal < 300).",
    ])


def one_run(kind: str, env: dict[str, str], files: dict[str, Path], bucket: str,
            sandbox_pid: int, level: int, threads: int) -> dict[str, float]:
    """One run of ``kind`` (ours encrypted or plain, aws, aws-start) with the load average
    before it and the sandbox S3's CPU during it; its objects are deleted afterwards."""
    import boto3

    load, sandbox0 = os.getloadavg()[0], process_cpu(sandbox_pid)
    if kind in ("ours", "plain"):
        out = run_ours(env, files["dump"], bucket, kind == "ours", level, threads)
    else:
        out = run_aws(env, files["dump" if kind == "aws" else "one"], bucket)
    out.update(load=load, sandbox_cpu_seconds=process_cpu(sandbox_pid) - sandbox0)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="de",
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    print(f"{kind}: " + json.dumps({k: round(v, 3) for k, v in out.items()}), flush=True)
    return out


def measure(size_mb: int, rounds: int, level: int, threads: int) -> dict[str, float]:
    """Generate the dump, start the sandbox, run ours (encrypted, plain), aws s3 cp and the
    CLI's start, interleaved over ``rounds``; the medians."""
    import boto3

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        work = Path(tmp)
        files = {"dump": work / "dump.sql", "one": work / "one.sql",
                 "warm-up": work / "warm-up.sql"}
        t0 = time.monotonic()
        generate(files["dump"], size_mb * 1024 * 1024)
        files["one"].write_bytes(b"-")
        # Only its first 16 MiB read: a child's peak RSS includes this process's (Linux carries
        # the peak over fork and exec).
        with files["dump"].open("rb") as f:
            files["warm-up"].write_bytes(f.read(16 * 1024 * 1024))
        size = files["dump"].stat().st_size
        print(f"generated {size / 2**20:.0f} MiB in {time.monotonic() - t0:.1f}s", flush=True)
        sandbox, env = start_sandbox(work)
        runs: dict[str, list[dict[str, float]]] = {}
        try:
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="de",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            bucket = "bench-backup"
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": "de"})
            # Not counted: a first multipart upload, so no measured run is the sandbox S3's first.
            run_aws(env, files["warm-up"], bucket)
            order = ["ours", "aws-start", "aws", "plain"]
            for r in range(rounds):
                for kind in order if r % 2 == 0 else order[::-1]:
                    runs.setdefault(kind, []).append(
                        one_run(kind, env, files, bucket, sandbox.pid, level, threads))
        finally:
            sandbox.send_signal(signal.SIGTERM)
            try:
                sandbox.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sandbox.kill()
    return figures_of(runs, size, level, threads)


def figures_of(runs: dict[str, list[dict[str, float]]], size: int, level: int,
               threads: int) -> dict[str, float]:
    """The medians of the rounds as the benchmark's figures."""
    def med(kind: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[kind]))

    def total_cpu(kind: str) -> float:
        """The run's CPU and the sandbox S3's during it (and the dump generator's, for ours)."""
        return float(statistics.median(r["cpu_seconds"] + r.get("generator_cpu_seconds", 0.0)
                                       + r["sandbox_cpu_seconds"] for r in runs[kind]))

    mib = size / 2**20
    ours, plain, aws, start = (med(k, "seconds") for k in ("ours", "plain", "aws", "aws-start"))
    ours_cpu, aws_cpu, start_cpu = (total_cpu(k) for k in ("ours", "aws", "aws-start"))
    return {
        "source_mib": round(mib, 1), "level": level, "threads": threads,
        "rounds": len(runs["ours"]),
        "ours_aes_s": round(ours, 3), "ours_plain_s": round(plain, 3),
        "aws_s3_cp_s": round(aws, 3), "aws_cli_start_s": round(start, 3),
        "ours_aes_source_mib_per_s": round(mib / ours, 1),
        "ours_plain_source_mib_per_s": round(mib / plain, 1),
        "aws_s3_cp_source_mib_per_s": round(mib / aws, 1),
        "throughput_ratio_aes": round(aws / ours, 3),
        "throughput_ratio_plain": round(aws / plain, 3),
        "throughput_ratio_aes_without_cli_start": round((aws - start) / ours, 3),
        "compression_ratio": round(size / med("ours", "uploaded"), 2),
        "ours_uploaded_bytes": int(med("ours", "uploaded")),
        "ours_total_cpu_s": round(ours_cpu, 2), "aws_total_cpu_s": round(aws_cpu, 2),
        "aws_start_total_cpu_s": round(start_cpu, 2),
        "cpu_ratio_aes": round(aws_cpu / ours_cpu, 3),
        "cpu_ratio_aes_without_cli_start": round((aws_cpu - start_cpu) / ours_cpu, 3),
        "ours_cpu_s": round(med("ours", "cpu_seconds"), 2),
        "ours_process_cpu_s": round(med("ours", "process_cpu_seconds"), 2),
        "dump_generator_cpu_s": round(med("ours", "generator_cpu_seconds"), 2),
        "ours_sandbox_s3_cpu_s": round(med("ours", "sandbox_cpu_seconds"), 2),
        "aws_cpu_s": round(med("aws", "cpu_seconds"), 2),
        "aws_start_cpu_s": round(med("aws-start", "cpu_seconds"), 2),
        "aws_sandbox_s3_cpu_s": round(med("aws", "sandbox_cpu_seconds"), 2),
        "load_average_min": round(min(r["load"] for rs in runs.values() for r in rs), 2),
        "load_average_max": round(max(r["load"] for rs in runs.values() for r in rs), 2),
        "ours_peak_rss_mib": round(max(r["peak_rss_mb"] for k in ("ours", "plain")
                                       for r in runs[k]), 1),
        "aws_peak_rss_mib": round(med("aws", "peak_rss_mb"), 1),
    }


def table(f: dict[str, float]) -> str:
    """The figures as the Markdown RESULTS.md holds."""
    ours = f"pipe → zstd -{f['level']} ({f['threads']} threads) → AES-256-GCM → sha256 → multipart"
    return "\n".join([
        f"Source: {f['source_mib']:.0f} MiB generated SQL dump; sandbox S3 (moto behind the "
        f"proxy) on 127.0.0.1; medians of {f['rounds']} interleaved rounds; load average "
        f"{f['load_average_min']:.1f}-{f['load_average_max']:.1f} before the runs.",
        "",
        "| | seconds | source MiB/s | ratio vs aws | CPU s (sandbox S3 CPU s) |",
        "|---|---|---|---|---|",
        f"| ours: {ours} | {f['ours_aes_s']:.1f} | {f['ours_aes_source_mib_per_s']:.1f} | "
        f"{f['throughput_ratio_aes']:.2f} | {f['ours_cpu_s']:.1f} + cat "
        f"{f['dump_generator_cpu_s']:.1f} ({f['ours_sandbox_s3_cpu_s']:.1f}) |",
        f"| ours without encryption | {f['ours_plain_s']:.1f} | "
        f"{f['ours_plain_source_mib_per_s']:.1f} | {f['throughput_ratio_plain']:.2f} | |",
        f"| aws s3 cp (uncompressed, same endpoint) | {f['aws_s3_cp_s']:.1f} | "
        f"{f['aws_s3_cp_source_mib_per_s']:.1f} | 1.00 | {f['aws_cpu_s']:.1f} "
        f"({f['aws_sandbox_s3_cpu_s']:.1f}) |",
        f"| aws s3 cp of 1 byte (the CLI's start) | {f['aws_cli_start_s']:.1f} | | | "
        f"{f['aws_start_cpu_s']:.1f} |",
        "",
        f"Compression ratio {f['compression_ratio']:.2f}; ratio with the CLI's start taken out "
        f"of aws s3 cp's time (ours starts its clock after its imports) "
        f"{f['throughput_ratio_aes_without_cli_start']:.2f}; our peak RSS "
        f"{f['ours_peak_rss_mib']:.0f} MiB (goal < 300), aws s3 cp {f['aws_peak_rss_mib']:.0f} "
        f"MiB; throughput goal ≥ 1.3x aws s3 cp.",
        "",
        f"CPU seconds with the sandbox S3's share (medians of the rounds' sums): ours "
        f"{f['ours_total_cpu_s']:.1f} for {f['ours_uploaded_bytes']} bytes uploaded, aws s3 cp "
        f"{f['aws_total_cpu_s']:.1f} ({f['aws_start_total_cpu_s']:.1f} of it its start): CPU "
        f"ratio {f['cpu_ratio_aes']:.2f}, {f['cpu_ratio_aes_without_cli_start']:.2f} without "
        f"the CLI's start.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--level", type=int, default=None,
                        help="zstd level of ours (default: the spec's default for streams)")
    parser.add_argument("--volume-mb", type=int, default=2048)
    parser.add_argument("--skip-dump", action="store_true", help="only the volume nights")
    parser.add_argument("--agent-from-source", action="store_true",
                        help="run the volume agent without compiled bytecode")
    parser.add_argument("--results", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    sections = []
    if not args.skip_dump:
        defaults = BackupCompression()
        figures.update(measure(args.size_mb, args.rounds, args.level or defaults.stream_level,
                               defaults.threads))
        sections.append(("Backups: zstd + AES-256-GCM dump to S3 vs aws s3 cp", table(figures)))
    if args.volume_mb > 0:
        volume = measure_volume(args.volume_mb, args.agent_from_source)
        figures.update(volume)
        sections.append(("Backups: volume files, two unchanged nights", volume_table(volume)))
    for _, text in sections:
        print(text)
    if args.results:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            for title, text in sections:
                f.write(f"\n## {title} ({time.strftime('%Y-%m-%d', time.gmtime())})\n\n"
                        f"{text}\n")
    # The last line: the figures as one JSON object, for programs.
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
