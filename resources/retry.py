"""Bounded retries of transient failures, honouring Retry-After. Clock and sleeper are injectable.

Transient: HTTP 429, 500, 502, 503, 504, and dropped or reset connections. Everything else is
raised at once. After the last attempt the error names what was being done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetriesExhausted(RuntimeError):
    """A call kept failing with transient errors; the message names the request."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before attempt ``attempt + 1``: the server's Retry-After when it sent one, else
        exponential backoff; both capped."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK's exception (IONOS, kubernetes, botocore), or None for a
    connection error."""
    status = getattr(exc, "status", None)
    response = getattr(exc, "response", None)
    if status is None and isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def retry_after_of(exc: BaseException) -> float | None:
    """The Retry-After seconds an exception's response carried, or None."""
    headers = getattr(exc, "headers", None) or getattr(
        getattr(exc, "response", None), "headers", None
    )
    response = getattr(exc, "response", None)
    if headers is None and isinstance(response, dict):  # botocore ClientError
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders")
    if not headers:
        return None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: 429, 5xx that are transient, and dropped or refused
    connections."""
    status = status_of(exc)
    if status in TRANSIENT_STATUSES:
        return True
    if status == 0 or status is None:
        # Connection-level trouble (urllib3 ProtocolError, reset, refused while restarting).
        name = type(exc).__name__
        text = str(exc)
        return (
            isinstance(exc, ConnectionError)
            or name in {"ProtocolError", "MaxRetryError", "NewConnectionError",
                        "RemoteDisconnected", "EndpointConnectionError",
                        "ConnectionClosedError", "ReadTimeoutError"}
            or "Connection aborted" in text
            or "Connection reset" in text
            or "RemoteDisconnected" in text
        )
    return False


def call_with_retry(
    fn: Callable[[], T],
    describe: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Any] = time.sleep,
    on_retry: Callable[[str], Any] | None = None,
    recover: Callable[[], Any] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures within ``policy``.

    Args:
        fn: the call.
        describe: what the call does, e.g. ``"POST /datacenters (k8s-production)"``; used in
            the error after the last attempt. Never put secrets in it.
        policy: attempts and delays.
        sleep: injectable sleeper.
        on_retry: called with a one-line message before each retry (e.g. a logger).
        recover: called after each wait, before retrying; a truthy result is returned instead
            of retrying (a create whose first attempt may have reached the server looks the
            resource up here, so a retry never makes a duplicate).
    """
    last: BaseException | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            last = exc
            if attempt == policy.attempts:
                break
            wait = policy.delay(attempt, retry_after_of(exc))
            if on_retry:
                on_retry(f"{describe}: transient error {status_of(exc) or type(exc).__name__}; "
                         f"retry {attempt}/{policy.attempts - 1} in {wait:.1f}s")
            sleep(wait)
            if recover is not None:
                found = recover()
                if found:
                    return found  # type: ignore[no-any-return]
    raise RetriesExhausted(
        f"{describe} failed after {policy.attempts} attempts; last error: "
        f"{(status_of(last) if last else None) or ''} {type(last).__name__}: {_short(last)}"
    ) from last


def _short(exc: BaseException | None) -> str:
    text = str(exc or "").strip().splitlines()
    return text[0][:300] if text else ""
