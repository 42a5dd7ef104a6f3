"""The sandbox Kubernetes API's protobuf: ``/openapi/v2`` served as gnostic protobuf to the real
kubectl's client-side schema (apply of a kind whose CRD is missing, ``explain`` from v2).

Sources (named again at each test):
- [handler] k8s.io/kube-openapi pkg/handler/handler.go: ``/openapi/v2`` answers JSON or the
  gnostic ``Document`` (Accept ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
  or ``...spec.v2.v1.0+protobuf``, answered as the latter), the first Accept clause that
  matches in goautoneg order winning; anything else is a 406 with no body.
- [gnostic] github.com/google/gnostic-models openapiv2/OpenAPIv2.proto: the message's fields.
- [schema] k8s.io/kubectl pkg/validation/schema.go: a kind missing from the v2 document is not
  validated client-side; [mapper] k8s.io/cli-runtime pkg/resource/mapper.go: a kind the
  server does not serve is ``resource mapping not found ... ensure CRDs are installed first``.
- [v2] k8s.io/apiextensions-apiserver pkg/controller/openapi/v2/conversion.go: what a CRD's
  schema becomes in the v2 document (nullable and int-or-string untyped, nullable not
  required).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.kubernetes import openapi_v2pb, protowire
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x, namespace: default}\n"
WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size, note]
            properties:
              size: {type: integer, minimum: 1, description: How big.}
              port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              note: {type: string, nullable: true}
              tags: {type: array, items: {type: string}}
              labels: {type: object, additionalProperties: {type: string}}
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _get(c: Cluster, path: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = dict(c.auth)
    if accept is not None:
        headers["Accept"] = accept
    req = urllib.request.Request(c.url + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_kubectl_apply_of_a_kind_without_its_crd_says_to_install_them(cluster: Cluster) -> None:
    """kubectl's strict client-side validation reads ``/openapi/v2`` as protobuf [handler]; a
    kind missing there is not validated [schema], so the error is the mapper's [mapper] (was:
    a 406 and ``the server was unable to respond with a content type that the client
    supports``)."""
    proc = cluster.kubectl("apply", "-f", "-", stdin=WIDGET, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        'error: resource mapping not found for name: "x" namespace: "default" from "STDIN": '
        'no matches for kind "Widget" in version "example.com/v1"\n'
        "ensure CRDs are installed first"), proc.stderr
    cluster.kubectl("apply", "-f", "-", stdin=WIDGET_CRD)
    assert "widget.example.com/x created" in cluster.kubectl("apply", "-f", "-",
                                                             stdin=WIDGET).stdout


def test_kubectl_explain_from_the_v2_document_shows_a_crd_as_v2_publishes_it(
        cluster: Cluster) -> None:
    """``kubectl explain --output=plaintext-openapiv2`` reads the protobuf v2 document
    [handler][gnostic]: the CRD's schema as [v2] converts it (int-or-string and nullable
    fields untyped, a nullable field not required)."""
    cluster.kubectl("apply", "-f", "-", stdin=WIDGET_CRD)
    out = cluster.kubectl("explain", "widgets.spec", "--output=plaintext-openapiv2").stdout
    fields = {line.split()[0]: line.split()[1:] for line in
              out.split("FIELDS:")[1].splitlines() if line.startswith("   ") and
              not line.startswith("     ")}
    assert fields == {"size": ["<integer>", "-required-"], "port": ["<>"], "note": ["<>"],
                      "tags": ["<[]string>"], "labels": ["<map[string]string>"]}
    out = cluster.kubectl("explain", "deployment.spec.replicas",
                          "--output=plaintext-openapiv2").stdout
    assert "FIELD:    replicas <integer>" in out and "Number of desired pods" in out


def test_openapi_v2_answers_json_or_protobuf_as_the_accept_header_prefers(
        cluster: Cluster) -> None:
    """[handler]: JSON for no Accept or ``*/*``, protobuf for either spelling (answered as the
    new one), the clauses taken by ``q``; an unserved type is a 406 with no body. The
    protobuf is the [gnostic] ``Document``: ``swagger`` (1), ``definitions`` (9) of named
    schemas whose extensions (31) hold YAML."""
    proto = openapi_v2pb.PROTOBUF
    cases = [(None, "application/json"), ("*/*", "application/json"),
             ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", proto),
             (proto, proto), (f"application/json;q=0.5, {proto}", proto),
             (f"{proto};q=0.5, application/json", "application/json")]
    for accept, answered in cases:
        code, headers, body = _get(cluster, "/openapi/v2", accept)
        assert (code, headers["Content-Type"], headers["Vary"]) == (200, answered, "Accept"), \
            accept
    code, headers, body = _get(cluster, "/openapi/v2", "text/html")
    assert (code, body, headers.get("Vary")) == (406, b"", "Accept")

    _, _, body = _get(cluster, "/openapi/v2", proto)
    doc = dict(protowire.fields(body))
    assert doc[1] == b"2.0"
    definitions = [dict(protowire.fields(v)) for n, v in protowire.fields(doc[9]) if n == 1]
    deployment = next(dict(protowire.fields(d[2])) for d in definitions
                      if d[1] == b"V1Deployment")  # the client's model names (docs/sandbox.md)
    extension = dict(protowire.fields(deployment[31]))
    assert extension[1] == b"x-kubernetes-group-version-kind"
    text = dict(protowire.fields(extension[2]))[2]
    assert yaml.safe_load(text) == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    code, _, body = _get(cluster, "/openapi/v2", "application/json")
    assert json.loads(body)["definitions"]["V1Deployment"][
        "x-kubernetes-group-version-kind"][0]["kind"] == "Deployment"
