"""The sandbox Kubernetes API's protobuf: ``/openapi/v2`` served as gnostic protobuf to the real
kubectl's client-side schema (apply of a kind whose CRD is missing, ``explain`` from v2), and
the objects kubectl's typed generators (``kubectl create configmap`` etc.) send as protobuf.

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
- [envelope] k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go: ``k8s\\x00`` then
  a ``runtime.Unknown`` (pkg/runtime/generated.proto) whose ``raw`` is the object's message;
  [types] k8s.io/api ``*/v1/types.go``: each field's ``protobuf`` tag (number) and ``json`` tag
  (name, ``omitempty``); the server stores the decoded struct, so an object sent as protobuf
  reads back as the same object sent as JSON.
- [generators] k8s.io/kubectl pkg/cmd/create/*.go: typed clientsets, which send
  ``application/vnd.kubernetes.protobuf`` (kubectl's ``--dry-run=client -o json`` prints the
  same object, which ``create -f`` sends as JSON).
- [415] k8s.io/apiserver pkg/endpoints/handlers/negotiation/errors.go
  (NewUnsupportedMediaTypeError): a body type the kind has no serializer for; custom resources
  have no protobuf.
"""

from __future__ import annotations

import json
import subprocess
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


GENERATED = [  # kubectl create <args> [generators], with what each exercises [types]
    (["deployment", "{n}", "--image=nginx", "--port=80", "--replicas=0"], "deployment"),  # *0
    (["cronjob", "{n}", "--image=busybox", "--schedule=*/5 * * * *"], "cronjob"),
    (["service", "clusterip", "{n}", "--tcp=80:8080"], "service"),  # IntOrString targetPort
    (["secret", "generic", "{n}", "--from-literal=a=b"], "secret"),  # []byte data
    (["poddisruptionbudget", "{n}", "--selector=a=b", "--min-available=50%"], "pdb"),
    (["priorityclass", "{n}", "--value=0"], "priorityclass"),  # a zero without omitempty
    (["clusterrolebinding", "{n}", "--clusterrole=view", "--user=u",
      "--serviceaccount=default:x"], "clusterrolebinding"),
    (["quota", "{n}", "--hard=pods=2,cpu=1"], "resourcequota"),  # Quantity map values
]


def _stored(c: Cluster, kind: str, name: str) -> dict[str, object]:
    obj = json.loads(c.kubectl("get", kind, name, "-o", "json").stdout)
    obj = json.loads(json.dumps(obj).replace(name, "NAME"))
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        obj["metadata"].pop(key, None)
    obj.pop("status", None)
    for key in ("clusterIP", "clusterIPs"):  # allocated per Service
        obj.get("spec", {}).pop(key, None)
    return obj


def test_kubectl_create_generators_send_protobuf_read_as_their_json(cluster: Cluster) -> None:
    """Each generator's object [generators], sent as protobuf [envelope], is stored exactly as
    the same object sent as JSON by ``create -f`` [types] (was: 415 for every one)."""
    for args, kind in GENERATED:
        made = cluster.kubectl("create", *[a.format(n="by-proto") for a in args], "-v=6")
        assert "created" in made.stdout and " 201 Created in " in made.stderr
        printed = cluster.kubectl("create", *[a.format(n="by-json") for a in args],
                                  "--dry-run=client", "-o", "json").stdout
        cluster.kubectl("create", "-f", "-", stdin=printed)
        assert _stored(cluster, kind, "by-proto") == _stored(cluster, kind, "by-json"), kind
    deployment = json.loads(cluster.kubectl("get", "deploy", "by-proto", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 0  # a pointer's zero is sent and kept
    sent = cluster.kubectl("create", "configmap", "c", "--from-literal=a=1", "-v=8").stderr
    assert "Content-Type: application/vnd.kubernetes.protobuf" in sent


def test_kubectl_create_token_is_read_from_protobuf(cluster: Cluster) -> None:
    """``kubectl create token`` posts a TokenRequest as protobuf [generators][envelope]; the
    token it prints authenticates as the ServiceAccount."""
    token = cluster.kubectl("create", "token", "default", "--duration=10m").stdout.strip()
    assert token.count(".") == 2
    proc = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(cluster.kubeconfig),
                           "--token", token, "get", "configmaps", "-n", "default"],
                          capture_output=True, text=True, timeout=60)
    assert 'User "system:serviceaccount:default:default" cannot list resource "configmaps"' \
        in proc.stderr


def _unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = protowire.string(1, api_version) + protowire.string(2, kind)
    return b"k8s\x00" + protowire.message(1, type_meta) + protowire.message(2, raw)


def test_protobuf_bodies_a_kind_cannot_take_are_refused(cluster: Cluster) -> None:
    """[415] a custom resource sent as protobuf names the types it takes; a built-in kind
    names protobuf among them; a body without the prefix is a 400 [envelope]."""
    cluster.kubectl("apply", "-f", "-", stdin=WIDGET_CRD)
    body = _unknown("example.com/v1", "Widget", b"")
    code, status = cluster.http("POST", "/apis/example.com/v1/namespaces/default/widgets", body,
                                content_type="application/vnd.kubernetes.protobuf")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    assert status["message"] == ("the body of the request was in an unknown format - accepted "
                                 "media types include: application/json, application/yaml")
    code, status = cluster.http("POST", "/api/v1/namespaces/default/configmaps", b"{}",
                                content_type="text/plain")
    assert code == 415 and status["message"].endswith(
        "application/json, application/yaml, application/vnd.kubernetes.protobuf")
    code, status = cluster.http("POST", "/api/v1/namespaces/default/configmaps", b"\x0a\x00",
                                content_type="application/vnd.kubernetes.protobuf")
    assert (code, status["reason"]) == (400, "BadRequest")
    name = protowire.message(1, protowire.string(1, "raw"))  # ObjectMeta.name
    data = protowire.message(2, protowire.string(1, "k") + protowire.string(2, "v"))
    code, made = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                              _unknown("v1", "ConfigMap", name + data),
                              content_type="application/vnd.kubernetes.protobuf")
    assert code == 201 and made["metadata"]["name"] == "raw" and made["data"] == {"k": "v"}
