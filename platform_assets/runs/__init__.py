"""What the assets, checks and ops of the Dagster layer do when a run executes them (the
``*_assets.py`` factories define them). A run imports its module here; loading the code location
imports none of them (``tests/unit/test_definitions.py``)."""
