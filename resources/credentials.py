"""Secrets and endpoints from the environment, the way the tools platform engineers use read them.

Every secret ``NAME`` can also come from a file: ``NAME_FILE`` holds the path of a mounted
Kubernetes Secret (the convention of the official Docker images, e.g. ``POSTGRES_PASSWORD_FILE``);
or from HashiCorp Vault: ``NAME_VAULT`` names a KV v2 field (``resources/vault.py``). Setting
more than one is an error, because which one wins would be a guess. Values are read when a client
is built, never when the code location loads, and never logged.

IONOS: a token (``IONOS_TOKEN``, sent as Bearer) or ``IONOS_USERNAME``/``IONOS_PASSWORD`` (Basic),
as the IONOS SDKs, ``ionosctl`` and the Terraform provider read them; with both, the token wins
(the SDKs send Bearer only when a token is set). The endpoints default to IONOS's: the Cloud API
to ``https://api.ionos.com/cloudapi/v6``, the regional DBaaS MariaDB and Certificate Manager APIs
to the spec's location (``de/txl`` -> ``https://mariadb.de-txl.ionos.com/v2``, the pattern
``ionosctl`` formats and the SDK lists); ``IONOS_API_URL``, ``IONOS_MARIADB_URL`` and
``IONOS_CERTMANAGER_URL`` override them. Cloud DNS (``https://dns.de-fra.ionos.com``, the
SDK's only host; ``IONOS_DNS_URL``) takes a token only: with a login, the client first gets one
from the Auth API (``https://api.ionos.com/auth/v1``; ``IONOS_AUTH_URL``), as ``ionosctl token
generate`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# A secret file is a token or a password: anything bigger is the wrong file.
MAX_SECRET_BYTES = 64 * 1024

CLOUD_API_URL = "https://api.ionos.com/cloudapi/v6"
MARIADB_URL_PATTERN = "https://mariadb.{region}.ionos.com/v2"
CERTMANAGER_URL_PATTERN = "https://certificate-manager.{region}.ionos.com"
# Certificate Manager is served from Frankfurt only (ionosctl's CertLocations; the SDK's only
# host): every other location uses that endpoint.
CERTMANAGER_LOCATIONS = ("de/fra",)

IONOS_TOKEN = "IONOS_TOKEN"
IONOS_USERNAME = "IONOS_USERNAME"
IONOS_PASSWORD = "IONOS_PASSWORD"
IONOS_API_URL = "IONOS_API_URL"
IONOS_MARIADB_URL = "IONOS_MARIADB_URL"
IONOS_CERTMANAGER_URL = "IONOS_CERTMANAGER_URL"
IONOS_DNS_URL = "IONOS_DNS_URL"
IONOS_AUTH_URL = "IONOS_AUTH_URL"
DNS_URL = "https://dns.de-fra.ionos.com"
AUTH_URL = "https://api.ionos.com/auth/v1"
FILE_SUFFIX = "_FILE"
VAULT_SUFFIX = "_VAULT"


class CredentialError(ValueError):
    """A credential is set in a way that cannot be used; the message says which and what to do."""


Environ = Mapping[str, str]


def secret(name: str, environ: Environ | None = None) -> str | None:
    """The value of ``name``, the contents of the file ``name_FILE`` names, or the Vault KV v2
    field ``name_VAULT`` points at (``<mount>/<path>#<key>``, ``resources.vault``); None when
    none is set. One trailing newline of the file is dropped (``echo`` writes one).

    Raises:
        CredentialError: more than one is set, the file cannot be read, is empty or too big, or
            Vault cannot give the value.
    """
    env = os.environ if environ is None else environ
    value = env.get(name) or None
    path = env.get(name + FILE_SUFFIX) or None
    vault = env.get(name + VAULT_SUFFIX) or None
    given = [n for n, v in ((name, value), (name + FILE_SUFFIX, path),
                            (name + VAULT_SUFFIX, vault)) if v]
    if len(given) > 1:
        raise CredentialError(f"{' and '.join(given)} are set: set only one of them")
    if vault:
        from resources.vault import VaultError, read_secret

        try:
            return read_secret(name, vault, env)
        except VaultError as exc:
            raise CredentialError(str(exc)) from None
    if not path:
        return value
    where = f"{name}{FILE_SUFFIX}={path}"
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_SECRET_BYTES:
        raise CredentialError(f"{where}: the file is over {MAX_SECRET_BYTES} bytes; it should "
                              f"hold only the value of {name}")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise CredentialError(f"{where}: the file is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise CredentialError(f"{where}: the file is empty")
    return text


@dataclass(frozen=True)
class IonosCredentials:
    """What the IONOS clients authenticate with: a token, or a username and password."""

    token: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the credentials authenticate: a token, or a username and a password."""
        return bool(self.token or (self.username and self.password))

    @property
    def scheme(self) -> str:
        """The HTTP authorization scheme: Bearer for a token, else Basic."""
        return "Bearer" if self.token else "Basic"


@dataclass(frozen=True)
class IonosCredentialNames:
    """Which variables hold the IONOS credentials: IONOS_TOKEN, IONOS_USERNAME and
    IONOS_PASSWORD, or those an environment of the spec names (``ionos.credentials``), whose
    ``environment`` the messages then name. Only the named variables count: an environment
    with its own never falls back to the shared ones (which may be another IONOS account)."""

    token: str | None = IONOS_TOKEN
    username: str | None = IONOS_USERNAME
    password: str | None = IONOS_PASSWORD
    environment: str | None = None

    def wanted(self) -> str:
        """What to set, for a message: ``A``, or ``B and C``, or ``A, or B and C``."""
        login = f"{self.username} and {self.password}" if self.username and self.password \
            else ""
        return ", or ".join(p for p in (self.token or "", login) if p)


DEFAULT_NAMES = IonosCredentialNames()


def ionos_credentials(environ: Environ | None = None,
                      names: IonosCredentialNames = DEFAULT_NAMES) -> IonosCredentials:
    """IONOS credentials from the environment (or ``*_FILE``, ``*_VAULT``); a token wins over a
    password.

    Raises:
        CredentialError: none is complete (the message names what to set, and the spec's
            environment when it names its own variables), or one is set badly.
    """
    token = secret(names.token, environ) if names.token else None
    if token:
        return IonosCredentials(token=token)
    creds = IonosCredentials(
        username=secret(names.username, environ) if names.username else None,
        password=secret(names.password, environ) if names.password else None)
    if creds.complete:
        return creds
    half = (f"{names.username} is set but {names.password} is not" if creds.username else
            f"{names.password} is set but {names.username} is not" if creds.password else
            "none is set")
    where = f"environment {names.environment}: " if names.environment else ""
    raise CredentialError(f"{where}IONOS credentials missing ({half}): set {names.wanted()} "
                          "(each also as *_FILE, the path of a mounted Secret, or *_VAULT)")


def s3_keys(environ: Environ | None = None) -> tuple[str, str] | None:
    """``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (or their ``*_FILE``); None when
    neither is set, so that boto3's chain (``AWS_PROFILE``, the shared credentials file, web
    identity) decides.

    Raises:
        CredentialError: only one of the two is set.
    """
    key_id, key = secret("AWS_ACCESS_KEY_ID", environ), secret("AWS_SECRET_ACCESS_KEY", environ)
    if key_id and key:
        return key_id, key
    if key_id or key:
        missing = "AWS_SECRET_ACCESS_KEY" if key_id else "AWS_ACCESS_KEY_ID"
        raise CredentialError(f"set {missing} too (or *_FILE), or neither, to use AWS_PROFILE "
                              "or the shared credentials file")
    return None


def store_keys(bucket: str, key_id_env: str, key_env: str,
               environ: Environ | None = None) -> tuple[str, str]:
    """The keys of an object store outside IONOS from the variables its spec names (or their
    ``*_FILE``/``*_VAULT``); never boto3's chain, which holds another account's keys.

    Raises:
        CredentialError: either is unset.
    """
    key_id, key = secret(key_id_env, environ), secret(key_env, environ)
    if key_id and key:
        return key_id, key
    missing = [n for n, v in ((key_id_env, key_id), (key_env, key)) if not v]
    raise CredentialError(f"the object store of bucket {bucket}: its credentials are missing: "
                          f"set {' and '.join(missing)} (or *_FILE, *_VAULT)")


def region_of(location: str) -> str:
    """``de/fra`` -> ``de-fra``: how the regional IONOS hostnames spell a location (``de/fra/2``
    is served by ``de-fra``, as the MariaDB SDK's host list says)."""
    parts = [p for p in location.strip().lower().split("/") if p]
    if len(parts) < 2:
        raise CredentialError(f"{location!r} is not an IONOS location (e.g. de/fra)")
    return f"{parts[0]}-{parts[1]}"


def mariadb_url(location: str) -> str:
    """The DBaaS MariaDB v2 endpoint of ``location``."""
    return MARIADB_URL_PATTERN.format(region=region_of(location))


def certmanager_url(location: str) -> str:
    """The Certificate Manager endpoint serving ``location``."""
    key = "/".join(location.strip().lower().split("/")[:2])
    served = key if key in CERTMANAGER_LOCATIONS else CERTMANAGER_LOCATIONS[0]
    return CERTMANAGER_URL_PATTERN.format(region=region_of(served))


@dataclass(frozen=True)
class IonosEndpoints:
    """The IONOS API endpoints a run uses: the defaults for the spec's location, or the
    overrides."""
    cloud: str
    mariadb: str
    certmanager: str
    dns: str = DNS_URL
    auth: str = AUTH_URL


def ionos_endpoints(location: str | None, environ: Environ | None = None,
                    explicit: Callable[[str], str | None] = lambda _: None) -> IonosEndpoints:
    """The three IONOS endpoints: explicit configuration, then the ``IONOS_*_URL`` overrides,
    then the defaults (the regional ones from ``location``, ``de/fra`` when there is none)."""
    env = os.environ if environ is None else environ
    where = location or "de/fra"

    def pick(var: str, default: str) -> str:
        return explicit(var) or env.get(var) or default

    return IonosEndpoints(cloud=pick(IONOS_API_URL, CLOUD_API_URL),
                          mariadb=pick(IONOS_MARIADB_URL, mariadb_url(where)),
                          certmanager=pick(IONOS_CERTMANAGER_URL, certmanager_url(where)),
                          dns=pick(IONOS_DNS_URL, DNS_URL), auth=pick(IONOS_AUTH_URL, AUTH_URL))
