"""Who may call the sandbox's S3: Signature Version 4, checked as S3 checks it.

The algorithm is AWS's (AWS General Reference, "Create a signed AWS API request" and Amazon S3
API Reference, "Authenticating Requests (AWS Signature Version 4)"): a canonical request of the
method, the path as sent (S3 does not normalize it), the query's names and values URI-encoded
and sorted, the signed headers (lowercase name, value trimmed and its inner spaces collapsed)
and the payload hash the client sent in ``x-amz-content-sha256``; the string to sign of the
algorithm, ``x-amz-date``, the credential scope and that request's sha256; the key derived by
HMAC-SHA256 from ``"AWS4" + secret`` over date, region, service and ``aws4_request``. The same
for a presigned URL, whose ``X-Amz-*`` query parameters carry what the header would.

The answers are S3's ("Error responses" in the API Reference): 403 ``InvalidAccessKeyId`` for a
key id the store does not know, 403 ``SignatureDoesNotMatch`` for a signature made with another
secret (or over other bytes), 403 ``AccessDenied`` for an anonymous request (every bucket here is
private), 400 ``InvalidRequest`` for Signature Version 2 ("Please use AWS4-HMAC-SHA256"), 400
``XAmzContentSHA256Mismatch`` for a body whose sha256 is not the one signed, 403
``RequestTimeTooSkewed`` for a signed request more than 15 minutes from the server's clock, 403
``AccessDenied`` "Request has expired" for a presigned URL past its ``X-Amz-Expires`` (at most
604800 seconds, a week; more is 400 ``AuthorizationQueryParametersError``). Not emulated: chunk
signatures of ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` bodies (the seed signature is checked).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
# Payload hashes that are not the sha256 of the body (the body is not checked against them).
_NOT_A_DIGEST = ("UNSIGNED-PAYLOAD", "STREAMING-")
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 604800  # a presigned URL lives at most a week


@dataclass(frozen=True)
class Refusal:
    """Why S3 refuses a request: HTTP status, error code and message."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class _Signed:
    key_id: str
    date: str
    scope: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    payload_hash: str
    presigned: bool
    expires: int = 0  # a presigned URL's X-Amz-Expires, in seconds


def _parse_header(auth: str, headers: Mapping[str, str]) -> _Signed | Refusal:
    fields: dict[str, str] = {}
    for part in auth[len(ALGORITHM):].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    try:
        credential, signed, signature = (fields["Credential"], fields["SignedHeaders"],
                                         fields["Signature"])
        key_id, date, scope = _credential(credential)
    except (KeyError, ValueError):
        return Refusal(400, "AuthorizationHeaderMalformed",
                       "The authorization header is malformed.")
    return _Signed(key_id, date, scope, signed.split(";"), signature,
                   headers.get("x-amz-date") or headers.get("date") or "",
                   headers.get("x-amz-content-sha256") or "", False)


def _parse_query(query: list[tuple[str, str]]) -> _Signed | Refusal:
    params = dict(query)
    try:
        key_id, date, scope = _credential(params["X-Amz-Credential"])
        expires = int(params["X-Amz-Expires"])
        if not 0 < expires <= MAX_EXPIRES:
            return Refusal(400, "AuthorizationQueryParametersError",
                           "X-Amz-Expires must be less than a week (in seconds) that is; "
                           f"{MAX_EXPIRES} seconds")
        return _Signed(key_id, date, scope, params["X-Amz-SignedHeaders"].split(";"),
                       params["X-Amz-Signature"], params["X-Amz-Date"], "UNSIGNED-PAYLOAD", True,
                       expires)
    except (KeyError, ValueError):
        return Refusal(400, "AuthorizationQueryParametersError",
                       "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                       "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                       "and X-Amz-Expires parameters.")


def _credential(value: str) -> tuple[str, str, str]:
    """``AKID/20261126/us-east-1/s3/aws4_request`` -> (key id, date, scope)."""
    key_id, date, region, service, terminal = value.split("/")
    if terminal != "aws4_request" or not key_id:
        raise ValueError(value)
    return key_id, date, f"{date}/{region}/{service}/{terminal}"


def _query_pairs(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw.split("&") if raw else []:
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _canonical_query(pairs: list[tuple[str, str]], presigned: bool) -> str:
    encoded = sorted((quote(n, safe="-_.~"), quote(v, safe="-_.~")) for n, v in pairs
                     if not (presigned and n == "X-Amz-Signature"))
    return "&".join(f"{n}={v}" for n, v in encoded)


def _signing_key(secret: str, scope: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _out_of_time(signed: _Signed, now: datetime) -> Refusal | None:
    """A signed request too far from ``now``, or a presigned URL past its expiry."""
    try:
        at = datetime.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return Refusal(403, "AccessDenied", "AWS authentication requires a valid Date or "
                                            "x-amz-date header")
    if signed.presigned:
        if now > at + timedelta(seconds=signed.expires):
            return Refusal(403, "AccessDenied", "Request has expired")
    elif abs(now - at) > MAX_SKEW:
        return Refusal(403, "RequestTimeTooSkewed", "The difference between the request time "
                                                    "and the current time is too large.")
    return None


def check(method: str, target: str, headers: Mapping[str, str], body: bytes,
          keys: Mapping[str, str], now: datetime | None = None) -> Refusal | None:
    """What S3 answers a request signed for ``keys`` (key id -> secret): None when it may
    proceed. ``target`` is the request target as sent (path and query, percent-encoded);
    ``now`` the server's time (the clock's by default)."""
    path, _, raw_query = target.partition("?")
    query = _query_pairs(raw_query)
    auth = headers.get("authorization") or ""
    if auth.startswith(ALGORITHM):
        signed = _parse_header(auth, headers)
    elif auth.startswith("AWS ") or any(n == "AWSAccessKeyId" for n, _ in query):
        return Refusal(400, "InvalidRequest", "The authorization mechanism you have provided is "
                                              "not supported. Please use AWS4-HMAC-SHA256.")
    elif any(n == "X-Amz-Signature" for n, _ in query):
        signed = _parse_query(query)
    else:
        return Refusal(403, "AccessDenied", "Access Denied")
    if isinstance(signed, Refusal):
        return signed
    secret = keys.get(signed.key_id)
    if secret is None:
        return Refusal(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not "
                                                  "exist in our records.")
    lines = [method, path, _canonical_query(query, signed.presigned)]
    lines += [f"{h}:{' '.join((headers.get(h) or '').split())}" for h in signed.signed_headers]
    lines += ["", ";".join(signed.signed_headers), signed.payload_hash]
    to_sign = "\n".join([ALGORITHM, signed.amz_date, signed.scope,
                         hashlib.sha256("\n".join(lines).encode()).hexdigest()])
    want = hmac.new(_signing_key(secret, signed.scope), to_sign.encode(),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signed.signature):
        return Refusal(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                       "not match the signature you provided. Check your key and signing method.")
    late = _out_of_time(signed, now or datetime.now(UTC))
    if late is not None:
        return late
    digest = signed.payload_hash
    if digest and not digest.startswith(_NOT_A_DIGEST) and \
            hashlib.sha256(body).hexdigest() != digest:
        return Refusal(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                       "header does not match what was computed.")
    return None
