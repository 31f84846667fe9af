"""Shared fixtures for the training tests: a small synthetic VOC dataset written once."""
import pytest


@pytest.fixture(scope="session")
def shapes_voc(tmp_path_factory):
    from ssd_edge.data import generate_voc
    root = tmp_path_factory.mktemp("shapes")
    generate_voc(root, 12, seed=0, image_size=(160, 120), split="trainval", max_objects=3)
    generate_voc(root, 4, seed=1, image_size=(160, 120), split="test", max_objects=3)
    return str(root)


# A net small enough for the CPU tests: mb2-ssd-lite at width 0.25 and 160x160.
SMALL = ["--net", "mb2-ssd-lite", "--activation", "relu", "--width-mult", "0.25",
         "--resolution", "160", "--batch-size", "4", "--workers", "0", "--device", "cpu",
         "--no-progress"]
