"""How a backup or drill quotes the cause of a failure (backups.errors.cause): the first line of
an exception, and for a Kubernetes API error the API's own Status message."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from platform_assets.backups.errors import cause

DENIED = ("helmreleases.helm.toolkit.fluxcd.io \"shop\" is forbidden: ValidatingAdmissionPolicy "
          "'platform-ops-runner-inert-drills' with binding 'platform-ops-runner-inert-drills' "
          "denied request: Flux objects restored by a drill must be suspended")


def _api_error(body: str, content_type: str = "application/json") -> UnprocessibleEntityError:
    # As the dynamic client raises it: an ApiException from the response, wrapped.
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body, exc.headers = body, {"Content-Type": content_type}
    return UnprocessibleEntityError(exc)


def test_a_kubernetes_denial_is_quoted_with_the_apis_message() -> None:
    """The client's own text starts with the bare code on a line of its own, which was all a
    drill problem used to say; the Status ``message`` (a policy's, with the object's name) is
    what tells the reader why."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422,
              "reason": "Invalid", "message": DENIED}
    exc = _api_error(json.dumps(status))
    assert str(exc).splitlines()[0] == "422"
    assert cause(exc) == f"UnprocessibleEntityError: 422 {DENIED}"


def test_the_quote_is_bounded_and_falls_back_to_the_first_line() -> None:
    long = _api_error(json.dumps({"kind": "Status", "message": "x\n" + "y" * 2000}))
    assert cause(long) == "UnprocessibleEntityError: 422 x " + "y" * (500 - 6)
    assert len(cause(long)) == len("UnprocessibleEntityError: ") + 500
    assert cause(_api_error("<html>bad gateway</html>", "text/html")) == \
        "UnprocessibleEntityError: 422"
    assert cause(_api_error(json.dumps({"kind": "Status"}))) == "UnprocessibleEntityError: 422"
    assert cause(ValueError("first\nsecond")) == "ValueError: first"
