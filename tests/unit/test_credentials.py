"""Credential conventions: *_FILE secrets, IONOS token or username/password, regional endpoints
derived from the location, and boto3's credential chain with explicit keys as an override."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.credentials import (
    CLOUD_API_URL,
    MAX_SECRET_BYTES,
    CredentialError,
    certmanager_url,
    ionos_credentials,
    ionos_endpoints,
    mariadb_url,
    s3_keys,
    secret,
)
from resources.ionos import IonosCloudResource
from resources.object_storage import ObjectStorageResource

IONOS_VARS = ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "IONOS_API_URL",
              "IONOS_MARIADB_URL", "IONOS_CERTMANAGER_URL")
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in IONOS_VARS + AWS_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name + "_FILE", raising=False)
    return monkeypatch


def test_secret_reads_the_variable_or_its_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-a-secret\n")  # one trailing newline, as echo writes it
    assert secret("X", {"X": "direct"}) == "direct"
    assert secret("X", {"X_FILE": str(path)}) == "from-a-secret"
    assert secret("X", {}) is None
    assert secret("X", {"X": ""}) is None


@pytest.mark.parametrize(("content", "message"), [
    (None, "X_FILE={path}: cannot read the file"),
    (b"", "X_FILE={path}: the file is empty"),
    (b"\xff\xfe", "X_FILE={path}: the file is not UTF-8 text"),
    (b"a" * (MAX_SECRET_BYTES + 1), f"X_FILE={{path}}: the file is over {MAX_SECRET_BYTES} bytes"),
])
def test_a_bad_secret_file_is_named_and_never_quoted(tmp_path: Path, content: bytes | None,
                                                      message: str) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CredentialError) as err:
        secret("X", {"X_FILE": str(path)})
    assert str(err.value).startswith(message.format(path=path))
    assert "aaaa" not in str(err.value)


def test_a_variable_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("b")
    with pytest.raises(CredentialError, match="X and X_FILE are set: set only one"):
        secret("X", {"X": "a", "X_FILE": str(tmp_path / "t")})


def test_ionos_token_wins_over_username_and_password() -> None:
    creds = ionos_credentials({"IONOS_TOKEN": "t", "IONOS_USERNAME": "u", "IONOS_PASSWORD": "p"})
    assert (creds.token, creds.username, creds.scheme) == ("t", None, "Bearer")
    basic = ionos_credentials({"IONOS_USERNAME": "u", "IONOS_PASSWORD": "p"})
    assert (basic.token, basic.username, basic.password, basic.scheme) == (None, "u", "p", "Basic")


@pytest.mark.parametrize(("env", "why"), [
    ({}, "none is set"),
    ({"IONOS_USERNAME": "u"}, "IONOS_USERNAME is set but IONOS_PASSWORD is not"),
    ({"IONOS_PASSWORD": "p"}, "IONOS_PASSWORD is set but IONOS_USERNAME is not"),
])
def test_missing_ionos_credentials_say_what_to_set(env: dict[str, str], why: str) -> None:
    with pytest.raises(CredentialError) as err:
        ionos_credentials(env)
    assert str(err.value).startswith(f"IONOS credentials missing ({why}): set IONOS_TOKEN, or "
                                     "IONOS_USERNAME and IONOS_PASSWORD")


def test_mariadb_endpoints_follow_the_location_as_the_sdk_lists_them() -> None:
    """Source: ionosctl's ``MariaDBApiRegionalURL = "https://mariadb.%s.ionos.com"`` (location
    with ``/`` as ``-``) and ``ionoscloud_dbaas_mariadb.Configuration.get_host_settings()``, whose
    hosts are exactly those URLs plus ``/v2``: every listed region maps to its own host."""
    import ionoscloud_dbaas_mariadb as mdb

    hosts = [h["url"] for h in mdb.Configuration().get_host_settings()]
    assert "https://mariadb.de-txl.ionos.com/v2" in hosts
    for host in hosts:
        region = host.removeprefix("https://mariadb.").removesuffix(".ionos.com/v2")
        assert mariadb_url(region.replace("-", "/")) == host
    assert mariadb_url("de/fra/2") == "https://mariadb.de-fra.ionos.com/v2"  # the SDK: de/fra/2


def test_certificate_manager_is_frankfurt_for_every_location() -> None:
    """Source: the Certificate Manager SDK lists one host (de-fra) and ionosctl's CertLocations
    is ``["de/fra"]``."""
    import ionoscloud_cert_manager as cm

    (host,) = [h["url"] for h in cm.Configuration().get_host_settings()]
    assert certmanager_url("de/fra") == certmanager_url("es/vit") == host


def test_endpoint_overrides_come_before_the_derived_defaults() -> None:
    derived = ionos_endpoints("de/txl", {})
    assert derived.cloud == CLOUD_API_URL == "https://api.ionos.com/cloudapi/v6"
    assert derived.mariadb == "https://mariadb.de-txl.ionos.com/v2"
    env = {"IONOS_API_URL": "http://a", "IONOS_MARIADB_URL": "http://m",
           "IONOS_CERTMANAGER_URL": "http://c"}
    assert ionos_endpoints("de/txl", env) == type(derived)("http://a", "http://m", "http://c")
    explicit = ionos_endpoints("de/txl", env, {"IONOS_MARIADB_URL": "http://x"}.get)
    assert (explicit.cloud, explicit.mariadb) == ("http://a", "http://x")


def test_resource_with_only_username_and_password_sends_basic_to_every_api(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IONOS_USERNAME", "ops@example.com")
    clean_env.setenv("IONOS_PASSWORD", "pw")
    ionos = IonosCloudResource(location="de/txl")
    expected = "Basic b3BzQGV4YW1wbGUuY29tOnB3"  # base64("ops@example.com:pw")
    cloud = ionos.cloud_client().configuration
    auth = cloud.auth_settings()
    assert "TokenAuthentication" not in auth
    assert auth["BasicAuthentication"]["value"] == expected
    for client in (ionos.mariadb_client(), ionos.certmanager_client()):
        assert client.default_headers["Authorization"] == expected
    assert ionos.mariadb_client().configuration.host == "https://mariadb.de-txl.ionos.com/v2"


def test_resource_with_a_token_file_sends_bearer_only(clean_env: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok\n")
    clean_env.setenv("IONOS_TOKEN_FILE", str(tmp_path / "token"))
    clean_env.setenv("IONOS_USERNAME", "ignored")
    ionos = IonosCloudResource()
    assert ionos.cloud_client().configuration.token == "tok"
    mariadb = ionos.mariadb_client()
    assert "Authorization" not in mariadb.default_headers
    assert mariadb.configuration.auth_settings()["tokenAuth"]["value"] == "Bearer tok"


def _s3_credentials(storage: ObjectStorageResource) -> tuple[str, str]:
    creds = storage.client("de")._request_signer._credentials.get_frozen_credentials()
    return creds.access_key, creds.secret_key


def test_s3_uses_the_profile_of_the_shared_credentials_file(clean_env: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    shared = tmp_path / "credentials"
    shared.write_text("[default]\naws_access_key_id = D\naws_secret_access_key = d\n"
                      "[ionos]\naws_access_key_id = P\naws_secret_access_key = p\n")
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    clean_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    clean_env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert _s3_credentials(ObjectStorageResource()) == ("D", "d")
    clean_env.setenv("AWS_PROFILE", "ionos")
    assert _s3_credentials(ObjectStorageResource()) == ("P", "p")
    # Explicit keys override the chain: the resource's, then the environment's (or *_FILE).
    assert _s3_credentials(ObjectStorageResource(access_key_id="E", secret_access_key="e")) == (
        "E", "e")
    (tmp_path / "key").write_text("f\n")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "F")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY_FILE", str(tmp_path / "key"))
    assert _s3_credentials(ObjectStorageResource()) == ("F", "f")


def test_s3_keys_half_set_is_an_error_naming_the_other() -> None:
    assert s3_keys({}) is None
    with pytest.raises(CredentialError, match="set AWS_SECRET_ACCESS_KEY too"):
        s3_keys({"AWS_ACCESS_KEY_ID": "k"})


def test_a_vault_reference_is_parsed_and_checked_before_any_request() -> None:
    from resources.vault import VaultError, VaultRef

    ref = VaultRef.parse("IONOS_TOKEN", "secret/platform-ops/ionos#token")
    assert (ref.mount, ref.path, ref.key) == ("secret", "platform-ops/ionos", "token")
    for bad in ("secret#token", "secret/a/b", "secret/../x#k", "/#k"):
        with pytest.raises(VaultError, match="IONOS_TOKEN_VAULT=.*expected <mount>/<path>#<key>"):
            VaultRef.parse("IONOS_TOKEN", bad)


def test_a_value_set_two_ways_is_refused_vault_included() -> None:
    with pytest.raises(CredentialError, match="X and X_VAULT are set: set only one"):
        secret("X", {"X": "a", "X_VAULT": "secret/p#k"})
    with pytest.raises(CredentialError, match="VAULT_ADDR is not set"):
        secret("X", {"X_VAULT": "secret/p#k"})


def test_an_environments_own_variables_replace_the_shared_ones(tmp_path: Path) -> None:
    from resources.credentials import IonosCredentialNames

    names = IonosCredentialNames("PROD_TOKEN", "PROD_USER", "PROD_PASSWORD", "production")
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    assert ionos_credentials({"PROD_TOKEN_FILE": str(token)}, names).token == "from-a-file"
    login = ionos_credentials({"PROD_USER": "u", "PROD_PASSWORD": "p"}, names)
    assert (login.username, login.password) == ("u", "p")
    with pytest.raises(CredentialError) as err:
        ionos_credentials({"IONOS_TOKEN": "shared", "PROD_USER": "u"}, names)
    assert str(err.value).startswith(
        "environment production: IONOS credentials missing (PROD_USER is set but PROD_PASSWORD "
        "is not): set PROD_TOKEN, or PROD_USER and PROD_PASSWORD")
