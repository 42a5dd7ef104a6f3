"""Typed models of the platform spec (pydantic v2, strict: unknown keys are errors).

Every default of the spec lives in this module, next to the field it belongs to; ``docs/spec.md``
is generated from nothing else. The models are pure: no Dagster, no SDK imports.
"""

# No ``from __future__ import annotations``: pydantic would evaluate each field's annotation
# from its string when the models are built, as the code location loads (about 8 ms).
import ipaddress
import posixpath
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SIZE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>Ki|Mi|Gi|Ti|KB|MB|GB|TB|K|M|G|T)?$")
_DURATION_RE = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME_RE = re.compile(r"^(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?Z?$")

_UNIT_BYTES = {
    None: 1,
    "K": 1000,
    "KB": 1000,
    "M": 1000**2,
    "MB": 1000**2,
    "G": 1000**3,
    "GB": 1000**3,
    "T": 1000**4,
    "TB": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}

def _empty() -> list[Any]:
    """The default of the list fields. Not ``default_factory=list``: pydantic inspects a
    factory's signature once per field as the models are built (as the code location loads), and
    parsing the text signature of ``list`` took 0.1 ms, 54 times. Not a ``[]`` default either:
    pydantic deep-copies that for each model it validates."""
    return []


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _dns_name(value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value) or len(value) > 63:
        raise ValueError(
            f"{value!r} is not a valid name: expected lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def parse_size(value: str | int) -> int:
    """Bytes in a size such as ``20Gi``, ``100GB`` or ``512Mi`` (an int is bytes already)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(str(value).strip())
    if not m:
        raise ValueError(
            f"{value!r} is not a valid size: expected a number with an optional unit "
            "(Ki, Mi, Gi, Ti, KB, MB, GB, TB), e.g. 20Gi or 100GB"
        )
    return int(float(m.group("num")) * _UNIT_BYTES[m.group("unit")])


def _size(value: Any) -> str:
    parse_size(value)
    return str(value)


# Longer than any schedule, retention or timeout means (and far inside timedelta's range).
_MAX_DURATION = timedelta(days=3660)


def parse_duration(value: str | int) -> timedelta:
    """A duration such as ``24h``, ``15m``, ``1d12h`` or a number of seconds (0 to ten years)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        if not 0 <= value <= _MAX_DURATION.total_seconds():
            raise ValueError(f"{value!r} seconds is not a duration between 0 and ten years")
        return timedelta(seconds=value)
    m = _DURATION_RE.match(str(value).strip())
    if not m or not any(m.groupdict().values()):
        raise ValueError(
            f"{value!r} is not a valid duration: expected e.g. 30s, 15m, 4h, 1d or 1d12h"
        )
    parts = {k: int(v or 0) for k, v in m.groupdict().items()}
    seconds = ((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * 60 + parts["s"]
    if seconds > _MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than ten years")
    return timedelta(seconds=seconds)


def _duration(value: Any) -> str:
    # A bare number is seconds: kept with its unit, so that it reads the same when the value is
    # validated again (a tier built from the section's own values) or handed to a tool whose
    # durations need one (Velero's ttl, a Go duration).
    parse_duration(value)
    return f"{value}s" if isinstance(value, int) else str(value)


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a valid CIDR ({exc}); expected e.g. 203.0.113.0/24"
        ) from None
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ValueError(
            f"{value!r} is not a known IANA timezone; expected e.g. UTC or Europe/Berlin"
        ) from None
    return value


# minute, hour, day of month, month, day of week
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_ITEM = re.compile(r"^(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _plainly_valid_cron(value: str) -> bool:
    """Whether every field is numbers, ranges, steps and lists within bounds: the forms specs
    use. Anything else (names, ``L``, ``#``, ``?``) is left to croniter."""
    fields = value.split()
    if len(fields) != 5:
        return False
    for field_, (low, high) in zip(fields, _CRON_RANGES, strict=True):
        for item in field_.split(","):
            m = _CRON_ITEM.match(item)
            if not m:
                return False
            start, end, step = (int(g) if g else None for g in m.groups())
            if start is not None and not low <= start <= (end if end is not None else high):
                return False
            if end is not None and end > high or step is not None and not 1 <= step <= high:
                return False
            if step is not None and start is not None and end is None:
                return False  # "5/15": croniter's reading, not ours
    return True


def _cron(value: str) -> str:
    if isinstance(value, str) and _plainly_valid_cron(value):
        return value
    # Imported only for the unusual forms: it is a noticeable part of loading the code location.
    from croniter import croniter

    if not isinstance(value, str) or not croniter.is_valid(value) or len(value.split()) != 5:
        raise ValueError(f"{value!r} is not a valid 5-field cron expression, e.g. '0 2 * * *'")
    return value


def _time_of_day(value: str) -> str:
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a time of day; expected HH:MM or HH:MM:SS (UTC), e.g. 10:00"
        )
    return value


Name = Annotated[str, AfterValidator(_dns_name)]
Size = Annotated[str | int, AfterValidator(_size)]
Duration = Annotated[str | int, AfterValidator(_duration)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Timezone = Annotated[str, AfterValidator(_timezone)]
Cron = Annotated[str, AfterValidator(_cron)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DriftMode = Literal["enforce", "warn", "observe"]


class Model(BaseModel):
    """Base of every spec model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Schedule(Model):
    cron: Cron
    timezone: Timezone = "UTC"


class MaintenanceWindow(Model):
    day: Weekday
    time: TimeOfDay
    duration: Duration = "4h"

    def ionos_time(self) -> str:
        """The window's start as the IONOS API writes it (``HH:MM:SSZ``)."""
        m = _TIME_RE.match(self.time)
        assert m
        return f"{m['h']}:{m['m']}:{m['s'] or '00'}Z"


class Datacenter(Model):
    name: str = Field(min_length=1, max_length=80)
    location: str = Field(pattern=r"^[a-z]{2}/[a-z]{3}$", description="e.g. de/fra")
    description: str = ""


class Lan(Model):
    name: Name
    public: bool = False


class Cluster(Model):
    name: Name
    k8s_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    maintenance_window: MaintenanceWindow
    api_subnet_allow_list: list[Cidr] = Field(default_factory=_empty)
    public: bool = True
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class Autoscaling(Model):
    min_node_count: int = Field(ge=1)
    max_node_count: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_node_count < self.min_node_count:
            raise ValueError("max_node_count must be at least min_node_count")
        return self


class NodePool(Model):
    name: Name
    node_count: int = Field(ge=1, le=100)
    cores: int = Field(ge=1, le=62)
    ram: Size = Field(description="per node, e.g. 20GB; IONOS wants a multiple of 1024 MB")
    storage_size: Size
    storage_type: Literal["SSD", "HDD"] = "SSD"
    cpu_family: str = "INTEL_SKYLAKE"
    availability_zone: Literal["AUTO", "ZONE_1", "ZONE_2"] = "AUTO"
    autoscaling: Autoscaling | None = None
    k8s_version: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")
    lans: list[Name] = Field(default_factory=_empty)
    labels: dict[str, str] = Field(default_factory=dict)
    maintenance_window: MaintenanceWindow | None = None
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""

    @property
    def ram_mb(self) -> int:
        """RAM in MB as IONOS counts it: 20GB means 20 x 1024 MB."""
        m = _SIZE_RE.match(str(self.ram).strip())
        assert m
        unit = m.group("unit") or "MB"
        num = float(m.group("num"))
        factor = {"G": 1024, "GB": 1024, "Gi": 1024, "T": 1024**2, "TB": 1024**2, "Ti": 1024**2}
        return int(num * factor.get(unit, 1)) if unit not in ("K", "KB", "Ki") else int(num // 1024)

    @property
    def storage_gb(self) -> int:
        return max(1, round(parse_size(self.storage_size) / 1000**3))

    @field_validator("ram")
    @classmethod
    def _ram_multiple(cls, value: str | int) -> str | int:
        m = _SIZE_RE.match(str(value).strip())
        if m and m.group("unit") in ("G", "GB", "Gi", "T", "TB", "Ti"):
            scale = 1024 if m.group("unit") in ("T", "TB", "Ti") else 1
            mb = float(m.group("num")) * 1024 * scale
        elif m:
            mb = float(m.group("num"))
        else:
            return value
        if mb < 2048 or mb % 1024:
            raise ValueError(
                f"{value!r}: IONOS node RAM must be at least 2GB and a whole number of GB"
            )
        return value


class MariaDB(Model):
    name: Name
    version: Literal["10.6", "10.11"] = "10.11"
    instances: int = Field(default=1, ge=1, le=5)
    cores: int = Field(default=2, ge=1, le=62)
    ram: Size = "4GB"
    storage_size: Size = "20GB"
    lan: Name
    cidr: str = Field(description="primary instance address with prefix, e.g. 10.7.222.100/24")
    maintenance_window: MaintenanceWindow
    database: str
    username: str = Field(min_length=2, max_length=16)
    password_env: str = Field(
        default="MARIADB_PASSWORD",
        description="name of the environment variable holding the admin password; never the value",
    )
    backup_retention_days: int = Field(default=7, ge=1, le=365)
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""

    @field_validator("cidr", mode="before")
    @classmethod
    def _host_cidr(cls, value: Any) -> Any:
        # A primary address (10.7.222.100/24) is an interface, not a network: validate it as one.
        try:
            ipaddress.ip_interface(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid address/prefix ({exc})") from None
        return value


PostgresVersion = Literal["14", "15", "16", "17"]
# Usernames the DBaaS keeps for itself (its API refuses them as the admin user).
POSTGRES_RESERVED_USERS = frozenset({"postgres", "admin", "standby", "replicator", "root"})


class PostgresCluster(Model):
    """A managed PostgreSQL cluster (IONOS DBaaS PostgreSQL, API v2): the same replace and
    calendar rules as MariaDB."""

    name: Name
    version: PostgresVersion = Field(
        default="16", description="major version; IONOS upgrades only one major at a time")
    instances: int = Field(default=1, ge=1, le=5)
    cores: int = Field(default=2, ge=1, le=62)
    ram: Size = Field(default="4GB", description="per instance, 4GB to 240GB")
    storage_size: Size = Field(default="20GB", description="per instance, 10GB to 4096GB; "
                               "never shrinks")
    lan: Name
    cidr: str = Field(description="primary instance address with prefix, e.g. 10.7.222.110/24")
    maintenance_window: MaintenanceWindow
    database: str = Field(pattern=r"^[A-Za-z0-9_]{2,63}$")
    username: str = Field(pattern=r"^[A-Za-z0-9_]{2,16}$")
    password_env: str = Field(
        default="POSTGRES_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="name of the environment variable holding the admin password; never the value",
    )
    replication_mode: Literal["ASYNCHRONOUS", "STRICTLY_SYNCHRONOUS"] = "ASYNCHRONOUS"
    connection_pooler: Literal["DISABLED", "TRANSACTION", "SESSION"] = "DISABLED"
    backup_location: str | None = Field(
        default=None, description="Object Storage location of IONOS's own backups, e.g. de; "
        "default: the cluster's region")
    backup_retention_days: int = Field(default=7, ge=1, le=365)
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""

    @field_validator("cidr", mode="before")
    @classmethod
    def _host_cidr(cls, value: Any) -> Any:
        try:
            ipaddress.IPv4Interface(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid IPv4 address/prefix ({exc})") from None
        if "/" not in str(value):
            raise ValueError(f"{value!r} needs a prefix, e.g. 10.7.222.110/24")
        return value

    @field_validator("username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in POSTGRES_RESERVED_USERS:
            raise ValueError(f"{value!r} is reserved by IONOS PostgreSQL; choose another name "
                             f"(reserved: {', '.join(sorted(POSTGRES_RESERVED_USERS))})")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        ram_gb, storage_gb = parse_size(self.ram) / 1000**3, parse_size(self.storage_size) / 1000**3
        if not 4 <= round(ram_gb) <= 240:
            raise ValueError(f"ram {self.ram!r}: IONOS PostgreSQL instances have 4GB to 240GB")
        if not 10 <= round(storage_gb) <= 4096:
            raise ValueError(f"storage_size {self.storage_size!r}: IONOS PostgreSQL instances "
                             "have 10GB to 4096GB")
        if self.replication_mode == "STRICTLY_SYNCHRONOUS" and self.instances < 3:
            raise ValueError("replication_mode STRICTLY_SYNCHRONOUS needs at least 3 instances")
        return self


class InMemoryDB(Model):
    """A managed in-memory database (IONOS DBaaS In-Memory DB, Redis-compatible, API v2): the
    same replace and calendar rules as MariaDB."""

    name: Name
    version: Literal["7.2"] = "7.2"
    instances: int = Field(default=1, ge=1, le=5, description="1: standalone; more: a primary "
                           "and replicas")
    cores: int = Field(default=1, ge=1, le=62)
    ram: Size = Field(default="4GB", description="per instance, 4GB to 240GB; never lowered")
    lan: Name
    cidr: str = Field(description="primary instance address with prefix, e.g. 10.7.222.120/24; "
                      "not in 10.210.0.0/16 or 10.212.0.0/14")
    maintenance_window: MaintenanceWindow
    username: str = Field(min_length=2, max_length=16)
    password_env: str = Field(
        default="INMEMORYDB_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="name of the environment variable holding the user's password (only its "
                    "SHA-256 is sent); never the value")
    persistence_mode: Literal["None", "AOF", "RDB", "RDB_AOF"] = "RDB"
    eviction_policy: Literal["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                             "volatile-lru", "volatile-lfu", "volatile-random",
                             "volatile-ttl"] = "allkeys-lru"
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""

    @field_validator("cidr", mode="before")
    @classmethod
    def _host_cidr(cls, value: Any) -> Any:
        try:
            iface = ipaddress.IPv4Interface(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid IPv4 address/prefix ({exc})") from None
        if "/" not in str(value):
            raise ValueError(f"{value!r} needs a prefix, e.g. 10.7.222.120/24")
        if any(iface.ip in ipaddress.ip_network(n) for n in ("10.210.0.0/16", "10.212.0.0/14")):
            raise ValueError(f"{value!r} is in a range IONOS In-Memory DB reserves "
                             "(10.210.0.0/16, 10.212.0.0/14)")
        return value

    @field_validator("ram")
    @classmethod
    def _ram_bounds(cls, value: str | int) -> str | int:
        if not 4 <= round(parse_size(value) / 1000**3) <= 240:
            raise ValueError(f"{value!r}: IONOS In-Memory DB instances have 4GB to 240GB")
        return value


class LifecycleRule(Model):
    id: Name
    prefix: str = ""
    expiration_days: int | None = Field(default=None, ge=1)
    noncurrent_expiration_days: int | None = Field(default=None, ge=1)


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_RE.match(value):
        raise ValueError(f"{value!r} is not an environment variable name, e.g. "
                         "PRODUCTION_IONOS_TOKEN")
    return value


EnvVarName = Annotated[str | None, AfterValidator(_env_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class StoreCredentials(Model):
    """The environment variables holding an object store's S3 keys (read like
    AWS_ACCESS_KEY_ID, also as ``<NAME>_FILE`` or ``<NAME>_VAULT``, when the first client is
    built); the values never enter the spec or the run config."""

    access_key_id_env: EnvName = Field(description="holds the access key id")
    secret_access_key_env: EnvName = Field(description="holds the secret access key")


class ObjectStore(Model):
    """A bucket of an S3-compatible object store outside IONOS (MinIO beside a K3s cluster,
    another provider's S3): platform-ops neither creates nor reconciles it, it only backs up
    into it, with the store's own credentials."""

    name: Name
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$",
                                 description="the S3 endpoint URL, e.g. https://minio.example:9000")
    endpoint_env: EnvVarName = Field(default=None, description="the variable holding the "
                                     "endpoint URL, instead of endpoint (read at run time)")
    region: str = Field(default="us-east-1", min_length=1,
                        description="the region requests are signed for")
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    credentials: StoreCredentials = Field(description="the variables holding its S3 keys")

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        if (self.endpoint is None) == (self.endpoint_env is None):
            raise ValueError("set either endpoint or endpoint_env, not both or neither")
        return self


class Bucket(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    region: str = Field(description="IONOS S3 region, e.g. eu-central-3 or de")
    versioning: bool = False
    lifecycle: list[LifecycleRule] = Field(default_factory=_empty)
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


# The DNS API's bounds (ionoscloud_dns ``Record.ttl``) and name rules (RFC 1035 2.3.4: labels of
# at most 63 characters, a name of at most 253; '_' for service labels such as _acme-challenge).
DNS_TTL_MIN, DNS_TTL_MAX = 60, 604800
_DNS_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_RECORD_NAME_RE = re.compile(rf"^(?:@|(?:\*|{_DNS_LABEL})(?:\.{_DNS_LABEL})*)$")
_ZONE_NAME_RE = re.compile(r"^(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]*[a-z0-9]$")
_HOST_NAME_RE = re.compile(rf"^(?:{_DNS_LABEL}\.)*{_DNS_LABEL}\.?$")


def _zone_name(value: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _ZONE_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid zone name: a lowercase domain such as "
                         "example.com, without a trailing dot")
    return value


def _record_name(value: str) -> str:
    if not isinstance(value, str) or not _RECORD_NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid record name: '@' for the zone itself, or labels of "
            "letters, digits, '_' and '-' (not at either end) of at most 63 characters, "
            "relative to the zone (www, not www.example.com), '*' as the first label for a "
            "wildcard")
    return value


ZoneName = Annotated[str, AfterValidator(_zone_name)]
RecordName = Annotated[str, AfterValidator(_record_name)]


def _private_interface(value: Any) -> Any:
    """A private address with its prefix (``10.7.222.10/24``), as the APIs want it."""
    try:
        iface = ipaddress.ip_interface(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a valid address/prefix ({exc})") from None
    if "/" not in str(value) or not iface.ip.is_private:
        raise ValueError(f"{value!r} must be a private address with its prefix, e.g. "
                         "10.7.222.10/24")
    return value


PrivateInterface = Annotated[str, BeforeValidator(_private_interface)]


class IpBlock(Model):
    """Reserved public IPv4 addresses (an IONOS IP block) of one location."""

    name: Name
    size: int = Field(default=1, ge=1, le=256, description="how many addresses")
    location: str | None = Field(default=None, pattern=r"^[a-z]{2}/[a-z]{3}$",
                                 description="default: the datacenter's location; a load "
                                             "balancer can only use a block of its own location")
    allow_replace: bool = Field(default=False, description="whether a change of size or "
                                "location may release the block and reserve a new one (its "
                                "addresses change)")
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class LoadBalancerTarget(Model):
    """Where a forwarding rule sends traffic: every node of a node pool, on one port (the
    ingress Service's node port)."""

    name: Name
    node_pool: Name
    port: int = Field(ge=1, le=65535)
    weight: int = Field(default=1, ge=0, le=256)
    health_check: bool = True
    proxy_protocol: Literal["none", "v1", "v2", "v2ssl"] = "none"


class ForwardingRule(Model):
    """One listener port of the load balancer's reserved addresses and the target it forwards
    to."""

    name: Name
    listener_port: int = Field(ge=1, le=65535)
    target: Name = Field(description="a target of this load balancer")
    protocol: Literal["TCP", "HTTP"] = "TCP"
    algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTION", "RANDOM", "SOURCE_IP"] = "ROUND_ROBIN"


class FrontedService(Model):
    """The Service behind the load balancer: its HelmRelease gets the reserved address at
    ``values_path``, so the Service's load balancer IP is pinned to it."""

    component: Name = Field(description="a helm_release component (the ingress controller)")
    values_path: str = Field(
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="dotted path in the chart's values, e.g. service.spec.loadBalancerIP "
                    "(traefik) or controller.service.loadBalancerIP (ingress-nginx)")


class LoadBalancer(Model):
    """An IONOS Network Load Balancer: it listens on the addresses of an IP block in a public
    LAN and forwards to node pools in a private LAN."""

    name: Name
    ip_block: Name = Field(description="the IP block whose addresses it listens on")
    listener_lan: Name = Field(description="a public LAN")
    target_lan: Name = Field(description="a private LAN the target node pools are in")
    private_ip: PrivateInterface = Field(description="its address in the target LAN with "
                                         "prefix, e.g. 10.7.222.10/24")
    targets: list[LoadBalancerTarget] = Field(min_length=1)
    rules: list[ForwardingRule] = Field(min_length=1)
    fronts: FrontedService | None = None
    allow_replace: bool = False
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class NatGatewayLan(Model):
    """A private LAN the NAT gateway routes out of, and its address there."""

    lan: Name = Field(description="a private LAN")
    gateway_ip: PrivateInterface = Field(description="the gateway's address in the LAN with "
                                         "prefix, e.g. 10.7.222.1/24: the next hop of the "
                                         "LAN's default route")


class PortRange(Model):
    start: int = Field(ge=1, le=65535)
    end: int = Field(ge=1, le=65535)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is below start {self.start}")
        return self


class NatRule(Model):
    """A source NAT rule: packets from ``source_subnet`` (to ``target_subnet``, when set) leave
    with the gateway's public address."""

    name: Name
    source_subnet: Cidr = Field(description="the private subnet whose packets are translated, "
                                "e.g. 10.7.222.0/24")
    target_subnet: Cidr | None = Field(default=None, description="only packets to this subnet "
                                       "(default: any destination)")
    protocol: Literal["ALL", "TCP", "UDP", "ICMP"] = "ALL"
    target_ports: PortRange | None = Field(default=None, description="only these destination "
                                           "ports (TCP and UDP only)")

    @model_validator(mode="after")
    def _ports(self) -> Self:
        if self.target_ports is not None and self.protocol not in ("TCP", "UDP"):
            raise ValueError(f"target_ports need protocol TCP or UDP, not {self.protocol}: "
                             "ports mean nothing to ICMP (the API refuses them there), and ALL "
                             "would translate only that port range of every protocol")
        return self


class NatGateway(Model):
    """An IONOS NAT gateway: private LANs reach the internet from the addresses of a reserved
    IP block (the egress of nodes without public addresses)."""

    name: Name
    ip_block: Name = Field(description="the IP block whose addresses it translates to; not one "
                           "a load balancer listens on")
    lans: list[NatGatewayLan] = Field(min_length=1)
    rules: list[NatRule] = Field(min_length=1)
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class TargetHealthCheck(Model):
    """How the balancer probes each target (TCP), in milliseconds."""

    interval_ms: int = Field(default=2000, ge=100, le=60000)
    timeout_ms: int = Field(default=5000, ge=100, le=60000)
    retries: int = Field(default=3, ge=0, le=65535)


class HttpHealthCheck(Model):
    """An HTTP request that must answer as expected for a target to be healthy."""

    path: str = Field(default="/", pattern=r"^/\S*$")
    method: Literal["HEAD", "PUT", "POST", "GET", "TRACE", "PATCH", "OPTIONS"] = "GET"
    match_type: Literal["STATUS_CODE", "RESPONSE_BODY"] = "STATUS_CODE"
    response: str = Field(default="200", min_length=1, description="the status code or the "
                          "body (match_type) a healthy target answers")
    regex: bool = False
    negate: bool = False


class TargetGroupTarget(Model):
    """Every node of a node pool, on one port (the ingress Service's node port)."""

    node_pool: Name
    port: int = Field(ge=1, le=65535)
    weight: int = Field(default=1, ge=0, le=256)
    proxy_protocol: Literal["none", "v1", "v2", "v2ssl"] = "none"
    health_check: bool = True
    maintenance: bool = False


class TargetGroup(Model):
    """An IONOS target group: where an Application Load Balancer's HTTP rules forward to."""

    name: Name
    algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTION", "RANDOM", "SOURCE_IP"] = "ROUND_ROBIN"
    protocol_version: Literal["HTTP1", "HTTP2"] = "HTTP1"
    targets: list[TargetGroupTarget] = Field(min_length=1)
    health_check: TargetHealthCheck = Field(default_factory=TargetHealthCheck)
    http_health_check: HttpHealthCheck | None = None
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


AlbConditionType = Literal["HEADER", "PATH", "QUERY", "METHOD", "HOST", "COOKIE", "SOURCE_IP"]
AlbMatch = Literal["EXISTS", "CONTAINS", "EQUALS", "MATCHES", "STARTS_WITH", "ENDS_WITH"]


class AlbCondition(Model):
    """One condition of an HTTP rule; the rule applies when all of them hold."""

    type: AlbConditionType
    condition: AlbMatch | None = Field(default=None, description="required but for SOURCE_IP, "
                                       "which takes none")
    key: str | None = Field(default=None, description="the header, query or cookie name")
    value: str | None = Field(default=None, description="required but for EXISTS; a CIDR for "
                              "SOURCE_IP")
    negate: bool = False

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.type == "SOURCE_IP") != (self.condition is None):
            raise ValueError("SOURCE_IP takes no condition; every other type needs one" if
                             self.type == "SOURCE_IP" else f"a {self.type} condition needs "
                             "condition (EXISTS, EQUALS, STARTS_WITH, ...)")
        if (self.key is not None) != (self.type in ("HEADER", "QUERY", "COOKIE")):
            raise ValueError(f"key is for HEADER, QUERY and COOKIE conditions, and they need "
                             f"it (type {self.type})")
        if (self.value is None) != (self.condition == "EXISTS"):
            raise ValueError("value is required unless the condition is EXISTS, which takes "
                             "none")
        if self.type == "SOURCE_IP":
            _cidr(str(self.value))
        return self


class AlbHttpRule(Model):
    """What the balancer does with a request that meets every condition: forward it to a
    target group, redirect it, or answer it."""

    name: Name
    type: Literal["FORWARD", "REDIRECT", "STATIC"] = "FORWARD"
    target_group: Name | None = Field(default=None, description="FORWARD: a target group of "
                                      "the spec")
    location: str | None = Field(default=None, description="REDIRECT: where to")
    status_code: int | None = Field(default=None, description="REDIRECT 301/302/303/307/308 "
                                    "(default 301); STATIC 200-599 (default 503)")
    response_message: str | None = Field(default=None, description="STATIC: the body")
    content_type: str | None = Field(default=None, description="STATIC: its content type")
    drop_query: bool = Field(default=False, description="REDIRECT: drop the query string")
    conditions: list[AlbCondition] = Field(default_factory=_empty)

    @model_validator(mode="after")
    def _action(self) -> Self:
        need = {"FORWARD": "target_group", "REDIRECT": "location", "STATIC": "response_message"}
        if getattr(self, need[self.type]) is None:
            raise ValueError(f"a {self.type} rule needs {need[self.type]}")
        extra = [f for f in need.values() if f != need[self.type] and getattr(self, f)]
        if extra:
            raise ValueError(f"{', '.join(extra)} is not for a {self.type} rule")
        codes = {"REDIRECT": (301, 302, 303, 307, 308), "STATIC": tuple(range(200, 600))}
        if self.status_code is not None and self.status_code not in codes.get(self.type, ()):
            raise ValueError(f"status_code {self.status_code} is not allowed for a {self.type} "
                             "rule (REDIRECT: 301, 302, 303, 307, 308; STATIC: 200-599; FORWARD: "
                             "none)")
        return self


class AlbForwardingRule(Model):
    """One HTTP listener port of the balancer's reserved address and its HTTP rules."""

    name: Name
    listener_port: int = Field(ge=1, le=65535)
    client_timeout_ms: int = Field(default=50000, ge=1, le=3600000)
    http_rules: list[AlbHttpRule] = Field(min_length=1)


class ApplicationLoadBalancer(Model):
    """An IONOS Application Load Balancer: HTTP on the addresses of an IP block in a public
    LAN, routed by host and path to target groups in a private LAN."""

    name: Name
    ip_block: Name = Field(description="the IP block whose addresses it listens on")
    listener_lan: Name = Field(description="a public LAN")
    target_lan: Name = Field(description="a private LAN the targets are in")
    private_ip: PrivateInterface = Field(description="its address in the target LAN with "
                                         "prefix")
    rules: list[AlbForwardingRule] = Field(min_length=1)
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class DnsRecord(Model):
    """One record of a zone: to an IP block's address, or with literal content."""

    name: RecordName = Field(description="relative to the zone: '@' for the zone itself, '*' "
                             "for a wildcard, e.g. www or *.apps")
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    ip_block: Name | None = Field(default=None, description="an A record to the block's first "
                                  "address")
    content: str | None = Field(default=None, description="the address, host name or text")
    ttl: int = Field(default=3600, ge=DNS_TTL_MIN, le=DNS_TTL_MAX, description="seconds")

    @model_validator(mode="after")
    def _content(self) -> Self:
        if (self.ip_block is None) == (self.content is None):
            raise ValueError("a record needs exactly one of ip_block or content")
        if self.ip_block is not None and self.type != "A":
            raise ValueError(f"ip_block gives an IPv4 address: type must be A, not {self.type}")
        value = self.content or ""
        kinds = {"A": ipaddress.IPv4Address, "AAAA": ipaddress.IPv6Address}
        if self.content is not None and self.type in kinds:
            try:
                kinds[self.type](value)
            except ValueError:
                raise ValueError(f"content {value!r} is not an IPv{4 if self.type == 'A' else 6}"
                                 f" address, as an {self.type} record needs") from None
        if self.type == "CNAME" and self.content is not None and not _HOST_NAME_RE.match(value):
            raise ValueError(f"content {value!r} is not a host name, as a CNAME record needs")
        if self.type == "CNAME" and self.name == "@":
            raise ValueError("the zone itself ('@') cannot be a CNAME (it has SOA and NS "
                             "records, RFC 1034 3.6.2)")
        return self


class DnsZone(Model):
    """A zone in IONOS Cloud DNS and the records the platform owns in it."""

    name: ZoneName
    hosts_to: Name | None = Field(
        default=None, description="an IP block: every host the spec names in this zone "
        "(certificate hostnames and endpoint hosts) gets an A record to its first address")
    ttl: int = Field(default=3600, ge=DNS_TTL_MIN, le=DNS_TTL_MAX,
                     description="TTL of the records hosts_to adds")
    records: list[DnsRecord] = Field(default_factory=_empty)
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class Dns(Model):
    """IONOS Cloud DNS."""

    zones: list[DnsZone] = Field(default_factory=_empty)




class IonosCredentialVars(Model):
    """The environment variables that hold this environment's IONOS credentials, so that two
    environments may use two IONOS accounts. Each is read as IONOS_TOKEN is (also as
    ``<NAME>_FILE`` or ``<NAME>_VAULT``) when the first client is built; the values never enter
    the spec or the run config."""

    token_env: EnvVarName = Field(default=None, description="holds an API token (Bearer)")
    username_env: EnvVarName = Field(default=None, description="holds the login's user name")
    password_env: EnvVarName = Field(default=None, description="holds the login's password")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither")
        if self.token_env is None and self.username_env is None:
            raise ValueError("set token_env, or username_env and password_env")
        return self


# The Container Registry API's rules (ionoscloud-container-registry 1.x validators; the API's
# how-to: "a-z, 0-9 or -, starts with a letter and ends with a letter or number, 3 to 63").
_REGISTRY_NAME_RE = re.compile(r"^[a-z][-a-z0-9]{1,61}[a-z0-9]$")
_TOKEN_NAME_RE = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$")


def _registry_name(value: str) -> str:
    if not _REGISTRY_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid registry name: 3-63 characters of a-z, 0-9 "
                         "and '-', starting with a letter and ending with a letter or digit "
                         "(it becomes the registry's hostname <name>.cr.<region>.ionos.com)")
    return value


def _token_name(value: str) -> str:
    if not _TOKEN_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid token name: 2-63 letters, digits and '-', "
                         "starting with a letter and ending with a letter or digit")
    return value


RegistryName = Annotated[str, AfterValidator(_registry_name)]
TokenName = Annotated[str, AfterValidator(_token_name)]


class RegistryScope(Model):
    """What a token may do in the repositories whose names match ``repositories``."""

    repositories: str = Field(min_length=1, max_length=255,
                              description="a repository name or pattern, e.g. wordpress/* or *")
    actions: list[Literal["pull", "push", "delete"]] = Field(min_length=1)


class RegistryToken(Model):
    """A token of a registry: its credentials are returned once, when it is created, and reach
    the cluster only as the image pull Secrets of the components that wire it in."""

    name: TokenName
    scopes: list[RegistryScope] = Field(min_length=1)
    expiry: date | None = Field(default=None, description="the day the token expires (UTC "
                                "midnight); unset: never")
    enabled: bool = True


class GarbageCollection(Model):
    """When the registry deletes untagged blobs (UTC)."""

    days: list[Weekday] = Field(min_length=1)
    time: TimeOfDay


class ContainerRegistry(Model):
    """An IONOS Container Registry and its tokens."""

    name: RegistryName
    location: str | None = Field(default=None, description="default: the datacenter's location")
    garbage_collection: GarbageCollection | None = None
    vulnerability_scanning: bool = Field(
        default=False, description="a paid add-on; once on, IONOS cannot turn it off")
    tokens: list[RegistryToken] = Field(default_factory=_empty)
    drift: DriftMode = "enforce"
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class Ionos(Model):
    credentials: IonosCredentialVars | None = Field(
        default=None,
        description="the variables holding this environment's IONOS credentials; default "
                    "IONOS_TOKEN, or IONOS_USERNAME and IONOS_PASSWORD (docs/credentials.md)")
    datacenter: Datacenter
    lans: list[Lan] = Field(default_factory=_empty)
    cluster: Cluster
    node_pools: list[NodePool] = Field(min_length=1)
    mariadb: MariaDB | None = None
    postgres: list[PostgresCluster] = Field(default_factory=_empty)
    inmemorydb: list[InMemoryDB] = Field(default_factory=_empty)
    buckets: list[Bucket] = Field(default_factory=_empty)
    ip_blocks: list[IpBlock] = Field(default_factory=_empty)
    load_balancers: list[LoadBalancer] = Field(default_factory=_empty)
    nat_gateways: list[NatGateway] = Field(default_factory=_empty)
    target_groups: list[TargetGroup] = Field(default_factory=_empty)
    application_load_balancers: list[ApplicationLoadBalancer] = Field(default_factory=_empty)
    dns: Dns = Field(default_factory=Dns)
    registries: list[ContainerRegistry] = Field(default_factory=_empty)


def _inside_spec_dir(value: str) -> str:
    """A manifest path stays under the spec's directory: a commit must not make the loader read
    host files (``/etc``) or another checkout (``../..``) as manifests."""
    norm = posixpath.normpath(value) if value else ""
    if "\\" in value:
        raise ValueError(f"{value!r} has a backslash; separate directories with '/'")
    if norm.startswith("/") or _DRIVE_RE.match(value):
        raise ValueError(f"{value!r} is absolute; expected a directory relative to the spec "
                         "file, e.g. manifests/wordpress")
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{value!r} is outside the spec's directory; expected a directory "
                         "under it, e.g. manifests/wordpress")
    return value


class ManifestsSource(Model):
    path: Annotated[str, AfterValidator(_inside_spec_dir)] = Field(
        description="directory of YAML manifests, relative to the spec file and under its "
                    "directory (no absolute paths, no '..', no symbolic links)")


class FluxKustomizationSource(Model):
    path: str = Field(description="path inside the Flux source, e.g. ./apps/wordpress")
    source_ref: str = "flux-system"
    source_kind: Literal["GitRepository", "OCIRepository", "Bucket"] = "GitRepository"
    interval: Duration = "10m"
    prune: bool = True


class HelmReleaseSource(Model):
    chart: str
    version: str
    repository: str = Field(description="name of the Flux HelmRepository in flux-system")
    release_name: str | None = None
    interval: Duration = "30m"
    values: dict[str, Any] = Field(default_factory=dict)


ARGOCD_IN_CLUSTER = "https://kubernetes.default.svc"


class ArgoSyncPolicy(Model):
    """The Application's ``syncPolicy``: Argo CD syncs by itself only when ``automated``."""

    automated: bool = Field(default=False, description="Argo CD syncs on every change it sees")
    prune: bool = Field(default=False, description="automated sync deletes what left Git")
    self_heal: bool = Field(default=False, description="automated sync reverts live changes")
    sync_options: list[str] = Field(
        default_factory=_empty, description="e.g. CreateNamespace=true, ServerSideApply=true")

    @field_validator("sync_options")
    @classmethod
    def _options(cls, v: list[str]) -> list[str]:
        for option in v:
            if "=" not in option:
                raise ValueError(f"{option!r} is not a sync option; expected Name=value, "
                                 "e.g. CreateNamespace=true")
        return v


class ArgoApplicationSource(Model):
    """An Argo CD ``Application``: a directory of a Git repository (``path``) or a Helm chart
    of a Helm repository (``chart``), synced by Argo CD into ``destination_namespace``."""

    repo_url: str = Field(description="the Git or Helm repository, e.g. "
                          "https://github.com/org/apps.git or https://charts.example.com")
    path: str | None = Field(default=None, description="directory in the Git repository")
    chart: str | None = Field(default=None, description="chart name in the Helm repository")
    target_revision: str = Field(default="HEAD",
                                 description="branch, tag or commit; the chart version")
    values: dict[str, Any] = Field(default_factory=dict,
                                   description="Helm values (source.helm.valuesObject)")
    project: Name = "default"
    argocd_namespace: Name = Field(default="argocd",
                                   description="where Argo CD runs; its Applications live there")
    destination_server: str = ARGOCD_IN_CLUSTER
    destination_namespace: Name | None = Field(
        default=None, description="default: the component's namespace")
    sync_policy: ArgoSyncPolicy = Field(default_factory=ArgoSyncPolicy)

    @model_validator(mode="after")
    def _path_or_chart(self) -> Self:
        if not self.path and not self.chart:
            raise ValueError("an Argo CD Application needs path (a directory of a Git "
                             "repository) or chart (a chart of a Helm repository); it has "
                             "neither")
        if self.path and self.chart:
            raise ValueError("an Argo CD Application takes path (Git) or chart (Helm "
                             "repository), not both")
        return self


class Source(Model):
    manifests: ManifestsSource | None = None
    kustomization: FluxKustomizationSource | None = None
    helm_release: HelmReleaseSource | None = None
    argocd_application: ArgoApplicationSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in ("manifests", "kustomization", "helm_release", "argocd_application")
                 if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a source needs exactly one of manifests, kustomization, helm_release or "
                "argocd_application" + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> str:
        if self.argocd_application:
            return "argocd"
        return "manifests" if self.manifests else "kustomization" if self.kustomization else "helm"


class HealthCheck(Model):
    kind: str = Field(description="Deployment, StatefulSet, DaemonSet, PersistentVolumeClaim, "
                      "or any kind with a Ready condition")
    name: str
    namespace: str | None = None
    api_version: str | None = None


def _field_paths(parse: Any, values: list[str]) -> list[str]:
    for value in values:
        parse(value)  # raises FieldPathError (a ValueError) naming what is wrong
    return values


class IgnoreDifference(Model):
    """Fields of some objects whose changes by others are not drift (Argo CD's
    ``ignoreDifferences``)."""

    kind: str = Field(description="the objects' kind, or * for every kind")
    group: str | None = Field(default=None, description="the API group ('' for core)")
    name: str | None = None
    namespace: str | None = None
    json_pointers: list[str] = Field(
        default_factory=_empty, description="RFC 6901 pointers, e.g. /spec/replicas")
    jq_path_expressions: list[str] = Field(
        default_factory=_empty,
        description='jq paths, e.g. .spec.template.spec.containers[] | select(.name == "x")')
    managed_fields_managers: list[str] = Field(
        default_factory=_empty,
        description="field managers whose changes are ignored (with paths: only there)")

    @field_validator("json_pointers")
    @classmethod
    def _pointers(cls, v: list[str]) -> list[str]:
        from platform_assets.core.fieldpath import parse_json_pointer

        return _field_paths(parse_json_pointer, v)

    @field_validator("jq_path_expressions")
    @classmethod
    def _jq(cls, v: list[str]) -> list[str]:
        from platform_assets.core.fieldpath import parse_jq_path

        return _field_paths(parse_jq_path, v)

    @model_validator(mode="after")
    def _says_what(self) -> Self:
        if not (self.json_pointers or self.jq_path_expressions or self.managed_fields_managers):
            raise ValueError("an ignore_differences entry needs json_pointers, "
                             "jq_path_expressions or managed_fields_managers")
        return self


MariaDBOutput = Literal["host", "port", "database", "user"]


class MariaDBInput(Model):
    """Where the managed MariaDB's connection details reach a component: a ConfigMap the
    reconcile writes in the component's namespace (as Terraform outputs feed a Helm release).
    The same as an ``infrastructure`` entry with ``asset: mariadb``."""

    config_map: Name
    keys: dict[MariaDBOutput, str] = Field(
        description="output (host, port, database, user) -> ConfigMap key",
        min_length=1)


# The outputs each kind of infrastructure asset publishes: (plain, secret). Secret outputs go
# into Secrets only, never into a ConfigMap.
INFRASTRUCTURE_OUTPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mariadb": (("host", "port", "database", "user"), ("password",)),
    "postgres": (("host", "port", "database", "user"), ("password",)),
    "inmemorydb": (("host", "port", "user"), ("password",)),
    "ip_block": (("ip", "ips"), ()),
    "registry": (("hostname",), ("dockerconfigjson",)),
}


class InfrastructureInput(Model):
    """Named outputs of one infrastructure asset that the reconcile writes into a ConfigMap or a
    Secret of the component's namespace, so the application never hard-codes an address. The
    component runs after that asset, and again whenever it changes."""

    asset: str = Field(
        pattern=r"^[a-z][a-z_]*(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        description="the asset under ionos/: mariadb, postgres/<name>, inmemorydb/<name>, "
                    "ip_block/<name>, registry/<name>")
    token: TokenName | None = Field(
        default=None, description="registry inputs: the token whose credentials the "
        "dockerconfigjson output (an image pull Secret) holds")
    config_map: Name | None = Field(default=None, description="a ConfigMap for plain outputs")
    secret: Name | None = Field(default=None, description="a Secret, for any outputs "
                                "(passwords only ever go here)")
    keys: dict[str, str] = Field(min_length=1, description="output -> key in the object")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.config_map is None) == (self.secret is None):
            raise ValueError("an infrastructure input needs exactly one of config_map or secret")
        return self

    @property
    def kind(self) -> str:
        """The asset's kind (``postgres`` of ``postgres/apps-db``)."""
        return self.asset.split("/", 1)[0]

    @property
    def name(self) -> str | None:
        """The asset's name (None for the one MariaDB)."""
        return self.asset.split("/", 1)[1] if "/" in self.asset else None

    @property
    def target(self) -> tuple[str, str]:
        """(``ConfigMap`` or ``Secret``, its name)."""
        return ("Secret", self.secret) if self.secret else ("ConfigMap", str(self.config_map))


class ComponentInputs(Model):
    """Outputs of infrastructure assets the component reads (it runs after them)."""

    mariadb: MariaDBInput | None = None
    infrastructure: list[InfrastructureInput] = Field(
        default_factory=_empty, description="outputs of any infrastructure asset, into a "
        "ConfigMap or a Secret of the component's namespace")

    @property
    def wirings(self) -> list[InfrastructureInput]:
        """Every input, ``mariadb`` as the infrastructure entry it stands for."""
        out = list(self.infrastructure)
        if self.mariadb is not None:
            out.insert(0, InfrastructureInput(asset="mariadb", config_map=self.mariadb.config_map,
                                              keys=dict(self.mariadb.keys)))
        return out


class Allow(Model):
    """What a component's objects may be, beyond the defaults: objects in its own namespace, of
    any namespaced kind but Role and RoleBinding, and the Namespace objects of its namespaces."""

    namespaces: list[Name] = Field(
        default_factory=_empty,
        description="namespaces besides `namespace` that the component's objects may be in")
    kinds: list[str] = Field(
        default_factory=_empty,
        description="kinds refused unless listed here: every cluster-scoped kind (ClusterRole, "
                    "ClusterRoleBinding, CustomResourceDefinition, webhook configurations, "
                    "ClusterIssuer, ...) and the RBAC kinds Role and RoleBinding")


class Component(Model):
    name: Name
    namespace: Name
    source: Source
    allow: Allow = Field(default_factory=Allow, description="the namespaces and kinds the "
                         "component's objects may use beyond its own namespace (docs/security.md)")
    depends_on: list[Name] = Field(default_factory=_empty)
    inputs: ComponentInputs = Field(default_factory=ComponentInputs)
    ignore_differences: list[IgnoreDifference] = Field(
        default_factory=_empty,
        description="changes by others that are not drift, beyond a HorizontalPodAutoscaler's "
                    "replicas (always ignored)")
    health: list[HealthCheck] = Field(
        default_factory=_empty,
        description="empty: every Deployment, StatefulSet, PVC and Ready-condition object applied",
    )
    health_timeout: Duration = "5m"
    drift: DriftMode = "enforce"
    prune: bool = True
    allow_replace: bool = Field(
        default=False, description="whether a change the API server refuses to update (an "
        "immutable field: a Deployment's selector, a Job's template, docs/reconcile.md) may "
        "delete and re-create the object, inside a maintenance window; never for "
        "PersistentVolumeClaims and PersistentVolumes")
    previous_namespaces: list[Name] = Field(
        default_factory=_empty, description="the namespaces the component moved from: the run "
        "account may delete there, by name, what the component applies and its old inventory, "
        "until the prune of the move has run and this is emptied (docs/reconcile.md)")
    absent: bool = Field(
        default=False, description="the component is to be removed: its reconcile applies "
        "nothing and deletes what its last inventory lists (Secrets included), its inventory "
        "last, inside a maintenance window; keep its source so the run account may delete "
        "those objects by name, then drop the component once its run recorded absent: gone "
        "(docs/reconcile.md)")
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


class VeleroSettings(Model):
    """How a ``method: velero`` target asks the installed Velero for its nightly Backup."""

    component: Name | None = Field(
        default=None, description="the platform component that installs Velero (its namespace "
        "is Velero's); default: the only component whose helm_release chart is velero")
    storage_location: str = Field(
        default="default", description="the BackupStorageLocation; it must store in "
        "backups.bucket, so the copy and the checks read what Velero wrote")
    label_selector: dict[str, str] = Field(
        default_factory=dict, description="matchLabels: only objects with these labels")
    ttl: Duration = Field(default="720h", description="how long Velero keeps the backup")
    snapshot_volumes: bool = Field(
        default=False, description="ask Velero to snapshot the namespaces' volumes too")
    timeout: Duration = Field(default="1h", description="how long a Backup or the drill's "
                                                        "Restore may take to finish")


class LonghornSettings(Model):
    """How a ``method: longhorn`` target asks the installed Longhorn for its nightly backup."""

    component: Name | None = Field(
        default=None, description="the platform component that installs Longhorn (its "
        "namespace is Longhorn's); default: the only component whose helm_release chart is "
        "longhorn")
    backup_target: str = Field(
        default="default", description="the Longhorn BackupTarget; it must store in "
        "backups.bucket, so the copy and the checks read what Longhorn wrote")
    timeout: Duration = Field(default="1h", description="how long a snapshot, a backup or the "
                                                        "drill's restore may take to finish")


# The kind of target each tool-driven method backs up (and the settings field it reads).
TOOL_METHODS = {"velero": "resources", "longhorn": "volume"}

# ``apiVersion/Kind``: an optional DNS-subdomain group, a Kubernetes version (v1, v2beta1) and a
# CamelCase kind, as the API server's discovery names them.
_KIND_RE = re.compile(r"^(?:(?P<group>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)/)?"
                      r"(?P<version>v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?)/"
                      r"(?P<kind>[A-Z][A-Za-z0-9]*)$")
RBAC_GROUP = "rbac.authorization.k8s.io"


def split_kind(value: str) -> tuple[str, str]:
    """(apiVersion, kind) of an ``apiVersion/Kind`` such as ``v1/Endpoints`` or
    ``example.com/v1/Widget``."""
    api_version, _, kind = value.rpartition("/")
    return api_version, kind


def _included_kind(value: str) -> str:
    m = _KIND_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not apiVersion/Kind: expected e.g. v1/Endpoints or "
                         "example.com/v1/Widget")
    group, kind = m.group("group") or "", m.group("kind")
    if group == "" and kind == "Secret":
        raise ValueError("Secrets are not for include_kinds: set include_secrets: true (drills "
                         "never restore them)")
    if group == RBAC_GROUP:
        raise ValueError("RBAC kinds are not for include_kinds: every resources backup exports "
                         "the namespaces' Roles and RoleBindings already, drills never restore "
                         "them, and ClusterRoles and ClusterRoleBindings are cluster-scoped")
    if kind == "Event" and group in ("", "events.k8s.io"):
        raise ValueError("Events are never exported: they are history, not state")
    return value


IncludedKind = Annotated[str, AfterValidator(_included_kind)]


class BackupTarget(Model):
    name: Name
    kind: Literal["volume", "database", "resources", "postgres"] = Field(
        description="volume, database (the managed MariaDB: mariadb-dump), postgres (a managed "
                    "PostgreSQL cluster: pg_dump) or resources")
    protects: str | None = Field(
        default=None,
        description="the component (or 'mariadb', or 'postgres/<name>') this target backs up; "
        "default: the database for database targets, the only ionos.postgres cluster for "
        "postgres targets, every component in `namespaces` for resources targets",
    )
    namespace: str | None = None
    pvc: str | None = None
    method: Literal["ionos-snapshot", "csi-snapshot", "files", "velero", "longhorn"] = Field(
        default="ionos-snapshot",
        description="volume targets: an IONOS snapshot, a CSI VolumeSnapshot (both stay in "
        "the region), or `files`: the volume's files, deduplicated, to the backup bucket by a "
        "Job that mounts the PVC (copied across regions and restore-drilled like dumps); "
        "resources targets: `velero` has the installed Velero back up the namespaces; volume "
        "targets: `longhorn` has the installed Longhorn snapshot the volume and back it up to "
        "its S3 backup target (copied and restore-drilled like dumps)")
    velero: VeleroSettings | None = Field(
        default=None, description="method velero: storage location, selector, TTL, volumes")
    longhorn: LonghornSettings | None = Field(
        default=None, description="method longhorn: component, backup target, timeout")
    volume_snapshot_class: str | None = None
    namespaces: list[Name] = Field(default_factory=_empty)
    include_secrets: bool = False
    include_kinds: list[IncludedKind] = Field(
        default_factory=_empty, description="resources targets: namespaced kinds to export "
        "besides the well-known ones and those the components apply, as apiVersion/Kind "
        "(`v1/Endpoints`, `example.com/v1/Widget`); the run account may list them in the "
        "namespaces, and restore drills validate them by a server-side dry run only")
    databases: list[str] = Field(default_factory=_empty)
    tier: Name | None = Field(
        default=None, description="a tier of `backups.tiers`: its schedule, RPO, RTO and "
        "retention; none: those of `backups`")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        if self.kind == "volume" and not (self.namespace and self.pvc):
            raise ValueError("a volume target needs namespace and pvc")
        if self.kind == "resources" and not self.namespaces:
            raise ValueError("a resources target needs namespaces")
        for tool, kind in TOOL_METHODS.items():
            if self.method == tool and self.kind != kind:
                raise ValueError(f"method {tool} needs kind {kind}, not {self.kind}")
            if getattr(self, tool) is not None and self.method != tool:
                raise ValueError(f"{tool} settings need method: {tool}")
        return self

    @property
    def in_bucket(self) -> bool:
        """Whether the backup is objects in the bucket (copied, checksummed, drilled), not a
        snapshot that stays where it was taken."""
        return not (self.kind == "volume" and self.method in ("ionos-snapshot",
                                                              "csi-snapshot"))

    @property
    def longhorn_settings(self) -> LonghornSettings:
        """A ``method: longhorn`` target's settings (the defaults when it gives none)."""
        return self.longhorn or LonghornSettings()

    @property
    def velero_settings(self) -> VeleroSettings:
        """A ``method: velero`` target's settings (the defaults when it gives none)."""
        return self.velero or VeleroSettings()


class CrossRegionCopy(Model):
    bucket: str | None = Field(default=None, description="an ionos.buckets bucket")
    store: Name | None = Field(default=None, description="an object_stores store, instead of "
                               "bucket")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        _bucket_or_store(self.bucket, self.store)
        return self


def _bucket_or_store(bucket: str | None, store: str | None) -> None:
    if (bucket is None) == (store is None):
        raise ValueError("set either bucket (an ionos.buckets bucket) or store (an "
                         "object_stores store), not both or neither")


class BackupCompression(Model):
    algorithm: Literal["zstd", "gzip"] = Field(
        default="zstd", description="zstd (multi-threaded); gzip as older backups were written")
    level: int | None = Field(
        default=None, ge=1, le=19,
        description="compression level (zstd 1-19, gzip 1-9) of every object; unset: zstd 2 for "
                    "dumps and exports, 3 for volume file chunks (gzip 3)")
    threads: int = Field(default=2, ge=0, le=16,
                         description="compression threads (0: in the uploading thread)")

    @property
    def stream_level(self) -> int:
        """The level of a streamed object (a database dump, a namespace export).

        zstd 2 by default: on two cores the compression is the CPU the upload waits on. For a
        generated 1 GiB dump, levels 1, 2 and 3 took 0.7, 0.9 and 1.3 s of CPU per 256 MiB for
        2.2x, 2.8x and 2.8x; with the S3 server on the same cores, 1 and 2 uploaded it equally
        fast, 2 with a fifth fewer bytes (benchmarks/bench_backup.py)."""
        return self.level or (2 if self.algorithm == "zstd" else 3)

    @property
    def chunk_level(self) -> int:
        """The level of a volume file chunk: 3 by default, as each is compressed once and kept
        for many nights (and level 3's larger window found repeats 1 MiB apart that level 1
        missed: chunks of a generated volume compressed 3.1x against 1.7x, in less CPU)."""
        return self.level or 3


class BackupEncryption(Model):
    key_env: str = Field(
        default="BACKUP_ENCRYPTION_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the 256-bit key (base64 or hex); objects are "
                    "sealed client-side with AES-256-GCM before they leave the process")


class VolumeAgent(Model):
    image: str = Field(
        default="registry.example.com/platform/platform-ops:0.1.0",
        description="image of the Job that backs up and restores `files` volumes (the "
        "platform-ops image: it runs python -m platform_assets.backups.agent)")
    run_as_user: int = Field(default=10001, ge=1,
                             description="UID the agent runs as (it must be able to read the "
                                         "volume's files; PodSecurity restricted forbids root)")
    chunk_mb: int = Field(default=4, ge=1, le=64, description="chunk size of the dedup store")
    timeout: Duration = Field(default="2h", description="how long one Job may take")


class BackupTier(Model):
    name: Name
    schedule: Schedule | None = Field(default=None,
                                      description="when its targets are backed up; none: "
                                                  "`backups.schedule`")
    rpo: Duration
    rto: Duration
    retention_days: int = Field(ge=1)
    description: str = ""

    @model_validator(mode="after")
    def _daily(self) -> Self:
        _check_daily_rpo(self.rpo, f"tier {self.name}: ")
        return self


def _check_daily_rpo(rpo: str | int, where: str) -> None:
    # Backups are partitioned by UTC day: no RPO can promise data younger than that.
    if parse_duration(rpo) < timedelta(hours=24):
        raise ValueError(f"{where}rpo {rpo} is shorter than a day, and backups are daily "
                         "partitions; use 24h or more")


class Backups(Model):
    schedule: Schedule = Schedule(cron="0 2 * * *", timezone="UTC")
    start_date: str = Field(default="2026-11-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    retention_days: int = Field(default=30, ge=1)
    rpo: Duration = "24h"
    rto: Duration = "4h"
    bucket: str | None = Field(default=None, description="the backup bucket, one of "
                               "ionos.buckets")
    store: Name | None = Field(default=None, description="an object_stores store, instead of "
                               "bucket (an environment without ionos)")
    prefix: str = "backups"
    cross_region_copy: CrossRegionCopy | None = None
    compression: BackupCompression = BackupCompression()
    encryption: BackupEncryption | None = None
    volume_agent: VolumeAgent = VolumeAgent()
    tiers: list[BackupTier] = Field(default_factory=_empty)
    targets: list[BackupTarget] = Field(default_factory=_empty)

    @field_validator("rpo")
    @classmethod
    def _daily(cls, rpo: str) -> str:
        # The default tier is made of it (tier_of).
        _check_daily_rpo(rpo, "")
        return rpo

    @model_validator(mode="after")
    def _known_tiers(self) -> Self:
        _bucket_or_store(self.bucket, self.store)
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: a name appears twice ({', '.join(names)})")
        for i, t in enumerate(self.targets):
            if t.tier is not None and t.tier not in names:
                raise ValueError(f"targets[{i}] ({t.name}): tier {t.tier!r} is not in "
                                 f"backups.tiers ({', '.join(names) or 'none declared'})")
        return self

    def tier_of(self, target: BackupTarget) -> BackupTier:
        """The target's tier, or one made of the section's own schedule, RPO, RTO and
        retention when it names none."""
        found = next((t for t in self.tiers if t.name == target.tier), None)
        if found is not None:
            return found
        return BackupTier(name="default", schedule=self.schedule, rpo=self.rpo, rto=self.rto,
                          retention_days=self.retention_days)


class Endpoint(Model):
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    sni: str | None = None
    connect_to: str | None = Field(
        default=None, description="address to dial instead of host (the name still goes in SNI)"
    )


class CertManagerRef(Model):
    namespace: Name
    name: str
    secret: str | None = Field(default=None, description="TLS Secret name; default from the spec")


class IonosCertRef(Model):
    name: str


class Certificate(Model):
    name: Name
    component: Name | None = Field(default=None, description="the component that serves it")
    hostname: str | None = Field(default=None, description="name the certificate must cover")
    endpoint: Endpoint | None = None
    cert_manager: CertManagerRef | None = None
    ionos: IonosCertRef | None = None
    warning_days: int | None = Field(default=None, ge=0)
    critical_days: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_vantage_point(self) -> Self:
        if not (self.endpoint or self.cert_manager or self.ionos):
            raise ValueError("a certificate needs at least one of endpoint, cert_manager or ionos")
        return self


class Certificates(Model):
    schedule: Schedule = Schedule(cron="0 */6 * * *", timezone="UTC")
    warning_days: int = Field(default=30, ge=0)
    critical_days: int = Field(default=7, ge=0)
    renewal_grace: Duration = "1h"
    ca_bundle: str | None = None
    concurrency: int = Field(default=32, ge=1, le=1024)
    timeout: Duration = "5s"
    items: list[Certificate] = Field(default_factory=_empty)

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        if self.critical_days > self.warning_days:
            raise ValueError("critical_days must not exceed warning_days")
        return self


Action = Literal[
    "reconcile", "restart_rollout", "renew_certificate", "rerun_backup", "expand_pvc", "escalate"
]


class Budget(Model):
    max: int = Field(default=3, ge=0)
    window: Duration = "1h"


def _matcher(value: str) -> str:
    """A label matcher: an exact value, or ``~regex`` (anchored, as Alertmanager's ``=~``)."""
    if value.startswith("~"):
        try:
            re.compile(value[1:])
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regex after '~': {exc}") from None
    return value


Matcher = Annotated[str, AfterValidator(_matcher)]


class RemediationRule(Model):
    name: Name
    match: dict[str, Matcher] = Field(min_length=1, description="alert label matchers; '=~' "
                                      "regex values are written as '~regex'")
    action: Action
    target: str | None = Field(default=None, description="asset name; default: the alert's "
                               "`asset`/`component` label")
    target_label: str = "component"
    cooldown: Duration = "10m"
    budget: Budget = Budget()
    rule_budget: Budget | None = Field(default=None, description="remediations under this "
                                       "rule across all its targets; default: `budget`")
    component: str | None = Field(default=None, description="the component an object the "
                                  "alert's labels choose must belong to (its namespace and "
                                  "ownership labels); default: `target` when it is a component")
    allow_in_freeze: bool = False
    allow_in_maintenance: bool = False
    expand_by: Size | None = None


class Remediation(Model):
    dry_run: bool = False
    poll_interval: Duration = "30s"
    rules: list[RemediationRule] = Field(default_factory=_empty)
    alert_selector: dict[str, Matcher] = Field(
        default_factory=dict,
        description="label matchers ('~regex' as in match) an alert must satisfy to be this "
                    "environment's; default in a spec with environments: {cluster: <the "
                    "environment's cluster name>} (the external label each cluster's Prometheus "
                    "adds); without environments: every alert")


class Freeze(Model):
    name: Name
    start: datetime
    end: datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("freeze start and end need a timezone, e.g. 2026-12-20T00:00:00Z")
        if self.end <= self.start:
            raise ValueError("freeze end must be after its start")
        return self


class ChangeWindow(Model):
    name: Name
    day: Weekday
    start: TimeOfDay
    duration: Duration
    timezone: Timezone = "UTC"


class ChangeCalendar(Model):
    maintenance_windows: list[ChangeWindow] = Field(default_factory=_empty)
    freezes: list[Freeze] = Field(default_factory=_empty)


class GitSource(Model):
    url: str | None = Field(default=None, description="default: $PLATFORM_GIT_URL")
    branch: str = "main"
    spec_path: str = "platform.yaml"


class Drift(Model):
    schedule: Schedule = Schedule(cron="0 * * * *", timezone="UTC")


class CheckAlerts(Model):
    environment: str | None = Field(default=None, description="the `environment` label of "
                                    "check alerts; default: `metadata.name`")
    warn: list[str] = Field(default_factory=_empty, description="checks whose WARN failures "
                            "alert too (ERROR always does): a check name such as `valid`, "
                            "`asset/path:check`, or `*`")


class Metadata(Model):
    name: Name
    owners: list[str] = Field(default_factory=_empty)
    description: str = ""


def _not_null(schema: dict[str, Any]) -> None:
    """Drop ``null`` from a field's JSON Schema (``X | None = None``: absent, never null)."""
    branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    schema.pop("default", None)


class ExistingCluster(Model):
    """A Kubernetes cluster platform-ops does not create (K3s, another provider), reached through
    a kubeconfig: no IONOS infrastructure and no IONOS credentials are needed for it."""

    kubeconfig_env: str = Field(
        description="the environment variable holding the kubeconfig file's path (read at run "
                    "time, as dg.EnvVar; never the file's content)")
    context: str | None = Field(
        default=None, description="the kubeconfig context (as kubectl --context); default: the "
                                  "file's current-context")
    name: Name = Field(description="the cluster's name: its concurrency pool (one reconcile of "
                                   "a cluster at a time) and how alerts and tags name it")

    @field_validator("kubeconfig_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_RE.match(value):
            raise ValueError(f"{value!r} is not an environment variable name, e.g. "
                             "STAGING_KUBECONFIG")
        return value


class Promotion(Model):
    """Promotion: this environment applies a change only after another environment's checks
    pass for it."""

    after: Name = Field(description="the environment whose drift checks must pass first")


class PlatformSpec(Model):
    api_version: Literal["platform-ops/v1"] = Field(alias="apiVersion")
    metadata: Metadata
    git: GitSource = GitSource()
    # Not nullable in the JSON Schema: null is not written in a spec, and an editor's errors
    # stay precise (inside one anyOf branch they would not).
    ionos: Ionos | None = Field(
        default=None, json_schema_extra=_not_null,
        description="the IONOS infrastructure; exactly one of ionos and cluster (in each "
                    "environment, when there are environments)")
    cluster: ExistingCluster | None = Field(
        default=None, json_schema_extra=_not_null,
        description="an existing cluster reached by kubeconfig, instead of ionos")
    promotion: Promotion | None = Field(
        default=None, json_schema_extra=_not_null,
        description="in an environment: apply a change only after another environment's checks "
                    "pass for it")
    environments: dict[Name, dict[str, Any]] = Field(
        default_factory=dict,
        description="environment name -> its overrides of this spec (docs/environments.md); "
                    "empty: the spec is one environment")
    platform: list[Component] = Field(default_factory=_empty)
    applications: list[Component] = Field(default_factory=_empty)
    object_stores: list[ObjectStore] = Field(
        default_factory=_empty, description="S3-compatible stores outside IONOS that "
        "backups.store and backups.cross_region_copy.store may name (docs/backups.md)")
    backups: Backups | None = None
    certificates: Certificates = Certificates()
    remediation: Remediation = Remediation()
    change_calendar: ChangeCalendar = ChangeCalendar()
    drift: Drift = Drift()
    alerts: CheckAlerts = CheckAlerts()

    @property
    def components(self) -> list[Component]:
        return [*self.platform, *self.applications]

    @property
    def mariadb(self) -> MariaDB | None:
        """The managed MariaDB (only an IONOS environment has one)."""
        return self.ionos.mariadb if self.ionos else None

    @property
    def buckets(self) -> list[Bucket]:
        """The S3 buckets (only an IONOS environment has them)."""
        return list(self.ionos.buckets) if self.ionos else []

    def object_store(self, name: str | None) -> ObjectStore | None:
        """The object store ``name`` (None: not declared, or no name)."""
        return next((s for s in self.object_stores if s.name == name), None)

    def backup_bucket(self, dr: bool = False) -> tuple[str, str | None]:
        """(bucket, region) the backups write to; with ``dr`` the cross-region copy's (the
        backups' own when there is no copy). The region is None for an undeclared bucket."""
        bk = self.backups
        if bk is None:
            raise ValueError("the spec has no backups section")
        place: Backups | CrossRegionCopy = (bk.cross_region_copy if dr and bk.cross_region_copy
                                            else bk)
        store = self.object_store(place.store)
        if store is not None:
            return store.bucket, store.region
        bucket = place.bucket or ""
        return bucket, next((b.region for b in self.buckets if b.name == bucket), None)

    @property
    def ionos_infra(self) -> Ionos:
        """The IONOS section, for code that only runs for IONOS assets (which exist only when
        the environment has one)."""
        if self.ionos is None:
            raise ValueError("this environment has no ionos section: its cluster is an existing "
                             "one, reached by kubeconfig")
        return self.ionos

    @property
    def cluster_name(self) -> str:
        """The name of the environment's one cluster, IONOS managed or existing."""
        if self.cluster is not None:
            return self.cluster.name
        assert self.ionos is not None, "a validated spec has ionos or cluster"
        return self.ionos.cluster.name

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def layer_of(self, name: str) -> str:
        return "platform" if any(c.name == name for c in self.platform) else "applications"
