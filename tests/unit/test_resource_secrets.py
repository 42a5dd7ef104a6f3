"""Resources keep their secrets out of repr() and str(), so a logged resource leaks nothing."""

from __future__ import annotations

import dagster as dg
import pytest

from resources.alertmanager import AlertmanagerResource
from resources.database import DatabaseDumpResource
from resources.ionos import IonosCloudResource
from resources.object_storage import ObjectStorageResource

SECRET = "s3cr3t-value-never-shown"


@pytest.mark.parametrize("resource", [
    IonosCloudResource(token=SECRET),
    IonosCloudResource(username="ops", password=SECRET),
    ObjectStorageResource(access_key_id="AKIA", secret_access_key=SECRET),
    AlertmanagerResource(url="http://am", password=SECRET),
    AlertmanagerResource(url="http://am", bearer_token=SECRET),
    DatabaseDumpResource(host="db", password=SECRET),
], ids=lambda r: type(r).__name__)
def test_secret_fields_are_not_in_repr(resource: dg.ConfigurableResource) -> None:
    assert SECRET not in repr(resource)
    assert SECRET not in str(resource)
    assert SECRET in resource.model_dump().values()  # the value is still there for the SDKs

