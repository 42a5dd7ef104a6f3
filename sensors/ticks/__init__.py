"""What each sensor's tick runs. A tick imports its module here when it starts; loading the code
location imports none of them (``tests/unit/test_definitions.py``)."""
