"""The backup engine: Dagster-free, over the resources.

``engine`` backs up one partition of one target and copies it to the DR bucket (the write
protocol: data objects under a key of the attempt, the manifest last, a failure removes what the
attempt wrote); ``sources`` holds what each target kind backs up (volume snapshot, database dump,
namespace export); ``bucket`` reads and deletes what lies in a bucket; ``restore_points`` lists
restore points and applies retention; ``drills`` restores into scratch databases and namespaces,
trusting an object only when it matches what the backup run recorded; ``streams`` encodes the
objects (zstd or gzip, AES-256-GCM).
The backup assets and checks (``platform_assets/backup_assets.py``; what they run:
``platform_assets/runs/backups.py``) turn their outcomes into Dagster events.
"""
