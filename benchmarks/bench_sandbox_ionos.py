"""What one IONOS request costs in the sandbox, so product benchmarks can subtract it.

    .venv/bin/python benchmarks/bench_sandbox_ionos.py [--gets 200] [--posts 50]

Measures, with the real SDKs over HTTP on 127.0.0.1: Cloud API GETs (a datacenter at depth 1, the
datacenter list at depth 1, also with ``filter.name`` and ``orderBy``) and POSTs (LAN creates,
each answered 202 with a request to poll), the DBaaS MariaDB cluster GET and the Certificate
Manager list. Also the emulator alone (its ``handle`` called in-process, no socket, no SDK),
which is the part the sandbox adds on top of any HTTP client. Prints median and p95 per request
in milliseconds; the last line is one JSON object of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from sandbox.certmanager import CertificateManagerService
from sandbox.http import Request, serve
from sandbox.ionos import IonosCloudService
from sandbox.mariadb import MariaDBService
from sandbox.world import World

TOKEN = "bench-token"


def timed(n: int, fn: Callable[[int], Any]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


FIGURES: dict[str, dict[str, float]] = {}


def report(label: str, samples: list[float]) -> None:
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    print(f"{label:<60} n={len(samples):<4} median {statistics.median(samples):7.2f} ms"
          f"   p95 {p95:7.2f} ms")
    FIGURES[label] = {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
                      "p95_ms": round(p95, 3)}


def main() -> None:
    import ionoscloud
    import ionoscloud_cert_manager as cm
    import ionoscloud_dbaas_mariadb as mdb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--posts", type=int, default=50)
    args = parser.parse_args()

    world = World(kubernetes_url="http://127.0.0.1:1")
    ionos = IonosCloudService(world, TOKEN, "user", "password")
    mariadb = MariaDBService(world, TOKEN)
    certs = CertificateManagerService(world, TOKEN)
    servers = [serve(ionos), serve(mariadb), serve(certs)]
    try:
        client = ionoscloud.ApiClient(ionoscloud.Configuration(
            host=servers[0].url + "/cloudapi/v6", token=TOKEN))
        dcs = ionoscloud.DataCentersApi(client)
        lans = ionoscloud.LANsApi(client)
        dc = dcs.datacenters_post(ionoscloud.DatacenterPost(
            properties=ionoscloud.DatacenterPropertiesPost(name="bench", location="de/fra")))
        for i in range(20):
            dcs.datacenters_post(ionoscloud.DatacenterPost(
                properties=ionoscloud.DatacenterPropertiesPost(name=f"f{i}", location="de/fra")))

        report("ionoscloud GET /datacenters/{id}?depth=1",
               timed(args.gets, lambda _: dcs.datacenters_find_by_id(dc.id, depth=1)))
        report("ionoscloud GET /datacenters?depth=1 (21 items)",
               timed(args.gets, lambda _: dcs.datacenters_get(depth=1)))
        report("ionoscloud GET /datacenters?depth=1&filter.name&orderBy",
               timed(args.gets, lambda _: dcs.datacenters_get(depth=1, query_params={
                   "filter.name": "f1", "orderBy": "name"})))
        report("ionoscloud POST /datacenters/{id}/lans (202)",
               timed(args.posts, lambda i: lans.datacenters_lans_post(dc.id, ionoscloud.Lan(
                   properties=ionoscloud.LanProperties(name=f"lan-{i}")))))
        report("ionoscloud GET /datacenters/{id}?depth=2 (50 LANs)",
               timed(args.gets // 4, lambda _: dcs.datacenters_find_by_id(dc.id, depth=2)))

        headers = Message()
        headers["Authorization"] = f"Bearer {TOKEN}"
        headers["Content-Type"] = "application/json"
        base = servers[0].url

        def in_process(_: int) -> None:
            resp = ionos.handle(Request("GET", f"/cloudapi/v6/datacenters/{dc.id}",
                                        {"depth": "1"}, headers, b"", base))
            assert resp.status == 200
            resp.encoded()

        report("emulator only: handle(GET datacenter depth=1)", timed(args.gets, in_process))

        def in_process_list(_: int) -> None:
            resp = ionos.handle(Request("GET", "/cloudapi/v6/datacenters", {"depth": "1"},
                                        headers, b"", base))
            assert resp.status == 200
            resp.encoded()

        report("emulator only: handle(GET /datacenters depth=1)",
               timed(args.gets, in_process_list))

        filtered = {"depth": "1", "filter.name": "f1", "orderBy": "name"}

        def in_process_filtered(_: int) -> None:
            resp = ionos.handle(Request("GET", "/cloudapi/v6/datacenters", filtered, headers,
                                        b"", base, {k: [v] for k, v in filtered.items()}))
            assert resp.status == 200
            resp.encoded()

        report("emulator only: handle(GET /datacenters filter+orderBy)",
               timed(args.gets, in_process_filtered))

        mdb_client = mdb.ApiClient(mdb.Configuration(host=servers[1].url + "/mariadb/v2",
                                                     token=TOKEN))
        clusters = mdb.ClustersApi(mdb_client)
        cluster = clusters.clusters_post(mdb.ClusterCreate(properties=mdb.ClusterCreateProperties(
            name="bench-db", version="10.11",
            instances=mdb.InstanceConfiguration(count=1, ram=4, cores=1, storage_size=10),
            connection=mdb.MariadbClusterConnection(datacenter_id=dc.id, lan_id="1",
                                                    primary_instance_address="10.1.1.10/24"),
            credentials=mdb.MariadbUser(username="bench", password="bench-password-1"))))
        report("dbaas-mariadb GET /clusters/{id}",
               timed(args.gets, lambda _: clusters.clusters_find_by_id(cluster.id)))

        cm_client = cm.ApiClient(cm.Configuration(host=servers[2].url + "/certmanager",
                                                  token=TOKEN))
        report("cert-manager GET /certificates (empty)",
               timed(args.gets, lambda _: cm.CertificateApi(cm_client).certificates_get()))
    finally:
        for server in servers:
            server.stop()
    # The last line: the figures as one JSON object (request -> n, median_ms, p95_ms).
    print(json.dumps(FIGURES))


if __name__ == "__main__":
    main()
