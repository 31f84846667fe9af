"""Fixtures for the tests on real models and photos (helpers: realdata.py)."""
import json

import pytest

from realdata import REFERENCE


@pytest.fixture(scope="session")
def reference():
    """The recorded detections of UltraFace's own Predictor (see its "about" field)."""
    with open(REFERENCE, "r", encoding="utf-8") as f:
        return json.load(f)
