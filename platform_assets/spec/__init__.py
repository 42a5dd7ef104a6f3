"""The platform spec: typed models and a loader with file:line error messages."""

from platform_assets.spec.loader import SpecError, load_spec, load_spec_text
from platform_assets.spec.models import PlatformSpec

__all__ = ["PlatformSpec", "SpecError", "load_spec", "load_spec_text"]
