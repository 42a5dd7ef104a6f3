"""ObjectStorageResource: IONOS S3 object storage through boto3, one client per region.

IONOS serves each region from its own endpoint (``s3.<region>.ionoscloud.com``, and the legacy
``de`` region from ``s3.eu-central-1.ionoscloud.com``); ``endpoint_url`` overrides them all (the
sandbox serves both regions from one endpoint). Path-style addressing and checksums only when
required, which third-party S3 implementations accept.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from resources.retry import RetryPolicy, call_with_retry

LEGACY_ENDPOINTS = {
    "de": "https://s3.eu-central-1.ionoscloud.com",
    "eu-central-2": "https://s3.eu-central-2.ionoscloud.com",
    "eu-south-2": "https://s3.eu-south-2.ionoscloud.com",
}


class ObjectStorageResource(dg.ConfigurableResource):
    """S3 credentials and endpoint."""

    access_key_id: str
    secret_access_key: str
    endpoint_url: str | None = None
    default_region: str = "eu-central-3"
    retry_attempts: int = 6
    retry_max_wait_seconds: float = 30.0
    max_pool_connections: int = 16

    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    def endpoint_for(self, region: str) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        return LEGACY_ENDPOINTS.get(region, f"https://s3.{region}.ionoscloud.com")

    def client(self, region: str | None = None) -> Any:
        """A boto3 S3 client for ``region`` (built on first use, cached)."""
        region = region or self.default_region
        if region not in self._clients:
            import boto3
            from botocore.config import Config

            self._clients[region] = boto3.client(
                "s3",
                endpoint_url=self.endpoint_for(region),
                region_name=region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 1, "mode": "standard"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=self.max_pool_connections,
                ),
            )
        return self._clients[region]

    def call(self, describe: str, fn: Any, log: Any = None) -> Any:
        """One S3 call with bounded retries of transient errors (429/5xx honour Retry-After)."""
        policy = RetryPolicy(attempts=self.retry_attempts, base_delay=0.5,
                             max_delay=self.retry_max_wait_seconds)
        return call_with_retry(fn, describe, policy, on_retry=log)
