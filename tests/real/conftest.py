"""Fixtures for tests on real models and photos from ``../shared/real`` (skipped without it)."""
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(os.path.dirname(ROOT), "shared", "real")
ULTRAFACE = os.path.join(REAL, "models", "ultraface")
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ultraface_reference.json")


def need_real(*parts):
    """Return the path under ../shared/real, or skip the test naming what is missing."""
    path = os.path.join(REAL, *parts)
    if not os.path.exists(path):
        pytest.skip("real models/photos not available: %s is absent (a clone without "
                    "../shared/real)" % path)
    return path


@pytest.fixture(scope="session")
def reference():
    with open(REFERENCE, "r", encoding="utf-8") as f:
        return json.load(f)
