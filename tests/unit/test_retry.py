"""Bounded retries: transient errors only, Retry-After honoured, recovery instead of duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from resources.retry import RetriesExhausted, RetryPolicy, call_with_retry, is_transient


class HttpError(Exception):
    def __init__(self, status: int, retry_after: str | None = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = {"Retry-After": retry_after} if retry_after else {}


def flaky(errors: list[Exception], result: Any = "ok") -> Any:
    calls = {"n": 0}

    def fn() -> Any:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_retries_transient_errors_and_honours_retry_after() -> None:
    slept: list[float] = []
    fn = flaky([HttpError(429, "3"), HttpError(503)])
    assert call_with_retry(fn, "GET /x", RetryPolicy(attempts=3, base_delay=0.5),
                           sleep=slept.append) == "ok"
    assert slept == [3.0, 1.0]  # Retry-After, then exponential backoff (0.5 * 2)


def test_retry_after_is_capped_by_the_policy() -> None:
    slept: list[float] = []
    call_with_retry(flaky([HttpError(429, "600")]), "GET /x",
                    RetryPolicy(attempts=2, max_delay=30), sleep=slept.append)
    assert slept == [30]


def test_non_transient_errors_are_raised_at_once() -> None:
    fn = flaky([HttpError(404)])
    with pytest.raises(HttpError):
        call_with_retry(fn, "GET /x", sleep=lambda _: None)
    assert fn.calls["n"] == 1
    assert not is_transient(HttpError(422)) and is_transient(ConnectionResetError())


def test_exhausted_retries_name_the_request() -> None:
    fn = flaky([HttpError(503)] * 5)
    with pytest.raises(RetriesExhausted, match=r"POST /datacenters \(dc\) failed after 3 "
                                               r"attempts; last error: 503"):
        call_with_retry(fn, "POST /datacenters (dc)", RetryPolicy(attempts=3),
                        sleep=lambda _: None)
    assert fn.calls["n"] == 3


def test_recover_returns_what_the_failed_attempt_created() -> None:
    fn = flaky([HttpError(503), HttpError(503)])
    found = iter([None, {"id": "dc-1"}])
    out = call_with_retry(fn, "POST /datacenters", RetryPolicy(attempts=5),
                          sleep=lambda _: None, recover=lambda: next(found))
    assert out == {"id": "dc-1"}
    assert fn.calls["n"] == 2  # no third POST: the look-up found the first one's result
