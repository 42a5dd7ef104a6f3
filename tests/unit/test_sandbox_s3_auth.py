"""The sandbox S3's time limits on signatures, checked against requests botocore signs (its
SigV4Auth and presigner, unmodified): a header-signed request more than 15 minutes from the
server's clock is 403 RequestTimeTooSkewed, a presigned URL past X-Amz-Expires is 403 "Request
has expired", and X-Amz-Expires over a week is 400 (Amazon S3 API Reference, "Error
responses" and "Authenticating Requests: Using Query Parameters")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox.s3_auth import check

KEYS = {"key": "secret"}
CREDS = Credentials("key", "secret")
URL = "http://127.0.0.1:9000/bucket/object.json"


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _header_signed() -> AWSRequest:
    req = AWSRequest(method="GET", url=URL, headers={})
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(req)
    return req


def test_a_request_signed_now_passes_and_one_far_from_the_servers_clock_is_refused() -> None:
    req = _header_signed()
    headers = {"host": "127.0.0.1:9000", **{k.lower(): v for k, v in req.headers.items()}}
    now = datetime.now(UTC)
    assert check("GET", _target(req.url), headers, b"", KEYS, now) is None
    assert check("GET", _target(req.url), headers, b"", KEYS,
                 now + timedelta(minutes=14)) is None
    late = check("GET", _target(req.url), headers, b"", KEYS, now + timedelta(minutes=16))
    early = check("GET", _target(req.url), headers, b"", KEYS, now - timedelta(minutes=16))
    for refusal in (late, early):
        assert refusal is not None
        assert (refusal.status, refusal.code) == (403, "RequestTimeTooSkewed")


def test_a_presigned_url_expires_and_may_live_at_most_a_week() -> None:
    req = AWSRequest(method="GET", url=URL, headers={})
    S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=60).add_auth(req)
    now = datetime.now(UTC)
    assert check("GET", _target(req.url), {"host": "127.0.0.1:9000"}, b"", KEYS, now) is None
    expired = check("GET", _target(req.url), {"host": "127.0.0.1:9000"}, b"", KEYS,
                    now + timedelta(seconds=120))
    assert expired is not None
    assert (expired.status, expired.code, expired.message) == (403, "AccessDenied",
                                                               "Request has expired")
    week = AWSRequest(method="GET", url=URL, headers={})
    S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=604801).add_auth(week)
    too_long = check("GET", _target(week.url), {"host": "127.0.0.1:9000"}, b"", KEYS, now)
    assert too_long is not None
    assert (too_long.status, too_long.code) == (400, "AuthorizationQueryParametersError")
