"""platform-ops: the platform spec, its pure reconcile core and the Dagster assets built from it.

Importing this package is cheap on purpose: Dagster and the cloud SDKs are imported only by the
modules that need them (``platform_assets.definitions`` and the resources).
"""
