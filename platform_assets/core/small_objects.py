"""Reading a bucket object whole, within a bound.

Its own module, with nothing but the standard library: the volume agent imports it, and the
agent's start is part of every night's backup time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What ``get_bytes`` reads into memory at most. Bucket objects are untrusted: a planted huge
# manifest or index must be a clear error, not a run killed for its memory. Generous for what is
# read whole (manifests, indexes, 4 MiB chunks, a Velero backup's gzipped item tarball).
SMALL_OBJECT_MAX = 256 * 1024 * 1024


class ObjectTooLarge(ValueError):
    """An object ``get_bytes`` would read whole is larger than ``SMALL_OBJECT_MAX``."""


def read_small(response: Mapping[str, Any], where: str) -> bytes:
    """The body of a GetObject ``response`` (``ContentLength``, ``Body``), refused unread when
    larger than ``SMALL_OBJECT_MAX``."""
    length = response.get("ContentLength")
    if isinstance(length, int) and length > SMALL_OBJECT_MAX:
        raise ObjectTooLarge(f"{where} is {length} bytes, more than the {SMALL_OBJECT_MAX} "
                             "read whole; not read")
    data = bytes(response["Body"].read(SMALL_OBJECT_MAX + 1))
    if len(data) > SMALL_OBJECT_MAX:
        raise ObjectTooLarge(f"{where} is larger than the {SMALL_OBJECT_MAX} bytes read whole")
    return data
