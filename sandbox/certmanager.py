"""A local IONOS Certificate Manager API v2 (what ``ionoscloud_cert_manager`` 3.x calls).

Served under ``/certmanager``: ``Configuration(host="http://127.0.0.1:PORT/certmanager",
token=...)``. Bearer or Basic auth, as the real API (see ``check_basic_or_bearer``).

- ``/certificates``: list (``offset``, ``limit``, ``filter.commonName``,
  ``filter.autoCertificate``), get, POST 201, PATCH (name only) 200, DELETE 202. ``metadata``
  carries ``notBefore``, ``notAfter``, ``expired``, ``commonName``,
  ``subjectAlternativeNames`` and ``serialNumber`` read from the stored PEM; the private key is
  write-only. An uploaded key must match the certificate (422 otherwise).
- ``/providers`` (ACME providers) and ``/auto-certificates``: create, list, get, PATCH name,
  DELETE. An auto-certificate is "issued" at once: the sandbox signs a 90-day certificate for its
  common name with a local CA and stores it as a certificate with ``metadata.autoCertificate``.
- ``add_certificate(name, pem_cert, pem_chain)`` seeds a certificate (the sandbox entry point
  uploads its TLS endpoints' certificates with it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import ApiError, IonosApi, iso, json_body, now
from sandbox.world import World

PREFIX = "/certmanager"
KEY_ALGORITHMS = {"rsa2048", "rsa4096", "ecdsa256", "ecdsa384"}


def describe_pem(pem: str) -> dict[str, Any]:
    """The metadata the API derives from a PEM certificate. Raises ValueError when unreadable."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_before = cert.not_valid_before_utc.timestamp()
    not_after = cert.not_valid_after_utc.timestamp()
    return {"commonName": str(cns[0].value) if cns else "", "subjectAlternativeNames": names,
            "serialNumber": format(cert.serial_number, "X"), "notBefore": not_before,
            "notAfter": not_after}


class CertificateManagerService(IonosApi):
    """The Certificate Manager v2 emulator (see the module docstring)."""

    name = "certmanager"
    prefix = PREFIX
    title = "Certificate Manager API"

    def __init__(self, world: World, token: str, state_dir: Path | None = None,
                 username: str = "", password: str = "") -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {
            "certificates": {}, "providers": {}, "auto-certificates": {}}
        self._ca: tuple[Any, x509.Certificate] | None = None
        super().__init__(world, token, state_dir=state_dir, username=username,
                         password=password)

    def add_certificate(self, name: str, pem_cert: str, pem_chain: str) -> str:
        """Store a certificate as if it had been uploaded; returns its id."""
        with self._lock:
            try:
                info = describe_pem(pem_cert)
            except ValueError as exc:
                raise ValueError(f"add_certificate({name!r}): not a PEM certificate: {exc}") \
                    from None
            cid = self._store_cert(name, pem_cert, pem_chain, info, None)
            self._save()
            return cid

    def _state(self) -> dict[str, Any]:
        return self._data

    def _restore(self, loaded: dict[str, Any]) -> None:
        for kind in self._data:
            self._data[kind] = loaded.get(kind, {})

    def _clear(self) -> None:
        for kind in self._data:
            self._data[kind].clear()

    @staticmethod
    def _segments(path: str) -> list[str]:
        """The path's segments after the prefix, empty ones dropped."""
        return [p for p in path.split("/") if p]

    def _route(self, req: Request, parts: list[str]) -> Response:
        if not parts or parts[0] not in self._data or len(parts) > 2:
            raise ApiError(404, f"Unknown path {req.path}")
        kind, m = parts[0], req.method
        if len(parts) == 1:
            if m == "GET":
                return self._list(req, kind)
            if m == "POST":
                return self._create(req, kind)
        else:
            obj = self._data[kind].get(parts[1])
            if obj is None:
                raise ApiError(404, f"{kind[:-1]} {parts[1]} not found")
            if m == "GET":
                return json_response(200, self._render(req, kind, obj))
            if m == "PATCH":
                return self._patch(req, kind, obj)
            if m == "DELETE":
                return self._delete(kind, obj)
        raise ApiError(405, f"Method {m} is not allowed on {req.path}")

    def _render(self, req: Request, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "createdDate": iso(obj["created"]), "createdBy": "sandbox",
            "createdByUserId": "sandbox-user", "lastModifiedDate": iso(obj["modified"]),
            "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
            "resourceURN": f"ionos:certmanager:de/fra:{kind[:-1]}/{obj['id']}",
            "state": obj.get("state", "AVAILABLE"), "message": obj.get("message", ""),
        }
        props = {k: v for k, v in obj["props"].items() if not k.startswith("_")}
        if kind == "certificates":
            info = obj["info"]
            meta.update({
                "autoCertificate": obj.get("autoCertificate"),
                "lastIssuedCertificate": None,
                "expired": info["notAfter"] < now(),
                "notBefore": iso(info["notBefore"]), "notAfter": iso(info["notAfter"]),
                "serialNumber": info["serialNumber"], "commonName": info["commonName"],
                "subjectAlternativeNames": info["subjectAlternativeNames"]})
        elif kind == "auto-certificates":
            meta["lastIssuedCertificate"] = obj.get("lastIssuedCertificate")
        elif kind == "providers" and isinstance(props.get("externalAccountBinding"), dict):
            props["externalAccountBinding"] = {"keyId": props["externalAccountBinding"]
                                               .get("keyId")}
        type_name = {"certificates": "certificate", "providers": "provider",
                     "auto-certificates": "auto-certificate"}[kind]
        return {"id": obj["id"], "type": type_name,
                "href": f"{req.base_url}{PREFIX}/{kind}/{obj['id']}", "metadata": meta,
                "properties": props}

    def _list(self, req: Request, kind: str) -> Response:
        items = sorted(self._data[kind].values(), key=lambda o: o["created"])
        if kind == "certificates":
            cn = req.query.get("filter.commonName")
            auto = req.query.get("filter.autoCertificate")
            if cn:
                items = [o for o in items if o["info"]["commonName"] == cn]
            if auto:
                items = [o for o in items if o.get("autoCertificate") == auto]
        return json_response(200, self._page(req, kind,
                                             [self._render(req, kind, o) for o in items]))

    @staticmethod
    def _props(body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ApiError(422, "[properties] Attribute is required")
        return props

    @staticmethod
    def _str(props: dict[str, Any], key: str, required: bool = True) -> str | None:
        value = props.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ApiError(422, f"[properties.{key}] Attribute is required and must be a "
                                "non-empty string")
        return value

    def _create(self, req: Request, kind: str) -> Response:
        p = self._props(json_body(req))
        if kind == "certificates":
            obj = self._create_certificate(p)
        elif kind == "providers":
            obj = self._create_provider(p)
        else:
            obj = self._create_auto_certificate(p)
        return json_response(201, self._render(req, kind, obj))

    def _create_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        name = self._str(p, "name")
        pem = self._str(p, "certificate")
        key_pem = self._str(p, "privateKey")
        chain = self._str(p, "certificateChain", required=False) or ""
        assert name is not None and pem is not None and key_pem is not None
        try:
            info = describe_pem(pem)
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError as exc:
            raise ApiError(422, f"[properties.certificate] is not a PEM certificate: {exc}") \
                from None
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ApiError(422, f"[properties.privateKey] is not an unencrypted PEM private "
                                f"key: {exc}") from None
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
            raise ApiError(422, "[properties.privateKey] does not match the certificate's "
                                "public key")
        if chain:
            try:
                x509.load_pem_x509_certificates(chain.encode())
            except ValueError as exc:
                raise ApiError(422, f"[properties.certificateChain] is not a PEM chain: {exc}") \
                    from None
        cid = self._store_cert(name, pem, chain, info, None)
        return self._data["certificates"][cid]

    def _store_cert(self, name: str, pem: str, chain: str, info: dict[str, Any],
                    auto: str | None) -> str:
        cid = str(uuid.uuid4())
        t = now()
        self._data["certificates"][cid] = {
            "id": cid, "created": t, "modified": t, "state": "AVAILABLE", "info": info,
            "autoCertificate": auto,
            "props": {"name": name, "certificate": pem, "certificateChain": chain}}
        return cid

    def _create_provider(self, p: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = {"name": self._str(p, "name"), "email": self._str(p, "email"),
                                 "server": self._str(p, "server")}
        if not str(props["server"]).startswith(("https://", "http://")):
            raise ApiError(422, f"[properties.server] {props['server']!r} must be an ACME "
                                "directory URL")
        eab = p.get("externalAccountBinding")
        if eab is not None:
            if not isinstance(eab, dict) or not all(isinstance(eab.get(k), str)
                                                     for k in ("keyId", "keySecret")):
                raise ApiError(422, "[properties.externalAccountBinding] needs keyId and "
                                    "keySecret strings")
            props["externalAccountBinding"] = {"keyId": eab["keyId"],
                                               "keySecret": eab["keySecret"]}
        pid = str(uuid.uuid4())
        t = now()
        self._data["providers"][pid] = {"id": pid, "created": t, "modified": t,
                                        "state": "AVAILABLE", "props": props}
        return self._data["providers"][pid]

    def _create_auto_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        provider = self._str(p, "provider")
        common_name = self._str(p, "commonName")
        algorithm = self._str(p, "keyAlgorithm")
        name = self._str(p, "name")
        assert provider is not None and common_name is not None and algorithm is not None
        if provider not in self._data["providers"]:
            raise ApiError(422, f"[properties.provider] provider {provider} does not exist")
        if algorithm not in KEY_ALGORITHMS:
            raise ApiError(422, f"[properties.keyAlgorithm] {algorithm!r} is not one of "
                                f"{sorted(KEY_ALGORITHMS)}")
        sans = p.get("subjectAlternativeNames") or []
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise ApiError(422, "[properties.subjectAlternativeNames] must be a list of strings")
        aid = str(uuid.uuid4())
        t = now()
        obj = {"id": aid, "created": t, "modified": t, "state": "AVAILABLE",
               "props": {"provider": provider, "commonName": common_name,
                         "keyAlgorithm": algorithm, "name": name,
                         "subjectAlternativeNames": sans}}
        pem, chain = self._issue(common_name, sans, algorithm)
        obj["lastIssuedCertificate"] = self._store_cert(
            f"{name}-{t:.0f}", pem, chain, describe_pem(pem), aid)
        self._data["auto-certificates"][aid] = obj
        return obj

    def _issue(self, common_name: str, sans: list[str], algorithm: str) -> tuple[str, str]:
        """Sign a 90-day certificate with the sandbox's own (throwaway) ACME stand-in CA."""
        if self._ca is None:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    "Sandbox Certificate Manager CA")])
            start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                       .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                       .sign(ca_key, hashes.SHA256()))
            self._ca = (ca_key, ca_cert)
        ca_key, ca_cert = self._ca
        key: Any = (rsa.generate_private_key(65537, int(algorithm[3:]))
                    if algorithm.startswith("rsa") else
                    ec.generate_private_key(ec.SECP256R1() if algorithm == "ecdsa256"
                                            else ec.SECP384R1()))
        start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        names = [common_name, *[s for s in sans if s != common_name]]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(start + dt.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                               False)
                .sign(ca_key, hashes.SHA256()))
        return (cert.public_bytes(serialization.Encoding.PEM).decode(),
                ca_cert.public_bytes(serialization.Encoding.PEM).decode())

    def _patch(self, req: Request, kind: str, obj: dict[str, Any]) -> Response:
        p = self._props(json_body(req))
        extra = set(p) - {"name"}
        if extra:
            raise ApiError(422, f"[properties] only name can be changed, not {sorted(extra)}")
        obj["props"]["name"] = self._str(p, "name")
        obj["modified"] = now()
        return json_response(200, self._render(req, kind, obj))

    def _delete(self, kind: str, obj: dict[str, Any]) -> Response:
        if kind == "providers" and any(a["props"]["provider"] == obj["id"]
                                       for a in self._data["auto-certificates"].values()):
            raise ApiError(409, f"provider {obj['id']} is still used by auto-certificates; "
                                "delete them first")
        del self._data[kind][obj["id"]]
        return Response(status=202, body=None)
