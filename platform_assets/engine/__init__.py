"""The Dagster-free engines: reconcile (observe → plan → apply → verify, one handler per node
kind in ``platform_assets.engine.reconcile.HANDLERS``).

They take the resources through the Protocols of ``platform_assets.core.ports`` and return plain
outcomes; the asset modules in ``platform_assets/`` turn those into Dagster events.
"""
