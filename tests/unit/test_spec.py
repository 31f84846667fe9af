import json

import numpy as np
import pytest

from ssd_edge import DetectorSpec, NmsDefaults, PriorLevel, SsdEdgeError

MB_LEVELS = [PriorLevel(19, 16, 60, 105), PriorLevel(10, 32, 105, 150), PriorLevel(5, 64, 150, 195),
             PriorLevel(3, 100, 195, 240), PriorLevel(2, 150, 240, 285), PriorLevel(1, 300, 285, 330)]
VGG_LEVELS = [PriorLevel(38, 8, 30, 60, (2,)), PriorLevel(19, 16, 60, 111), PriorLevel(10, 32, 111, 162),
              PriorLevel(5, 64, 162, 213), PriorLevel(3, 100, 213, 264, (2,)),
              PriorLevel(1, 300, 264, 315, (2,))]


def mb_spec(**kw):
    return DetectorSpec(arch="mb1-ssd", labels=("BACKGROUND", "a", "b"), prior_levels=MB_LEVELS, **kw)


def test_json_round_trip_is_identity():
    spec = mb_spec(activation="relu", source_sha256="ab" * 32, nms=NmsDefaults(conf_threshold=0.3))
    again = DetectorSpec.from_json(spec.to_json())
    assert again == spec
    assert hash(again) == hash(spec)
    assert json.loads(spec.to_json())["schema"] == 2


def test_save_and_load(tmp_path):
    spec = mb_spec()
    spec.save(tmp_path / "s.json")
    assert DetectorSpec.load(tmp_path / "s.json") == spec
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_spec_is_frozen():
    spec = mb_spec()
    with pytest.raises(Exception):
        spec.arch = "x"


@pytest.mark.parametrize("change, needle", [
    (dict(labels=("person", "car")), "labels[0] == 'BACKGROUND'"),
    (dict(labels=("BACKGROUND",)), "at least 2 labels"),
    (dict(input_size=(300, 0)), "input_size (H, W) of positive ints"),
    (dict(prior_levels=(PriorLevel(3, 100, (60, 70), 105),)), "one min size <= max_size"),
    (dict(std=(1.0, 0.0, 1.0)), "std values > 0"),
    (dict(precision="int4"), "precision"),
    (dict(output_layout="raw"), "output_layout"),
    (dict(activation="gelu"), "activation"),
    (dict(prior_levels=(PriorLevel((3, 0), 100, 60),)), "positive map size"),
])
def test_validation_says_expected_and_got(change, needle):
    with pytest.raises(SsdEdgeError) as e:
        mb_spec().replace(**change)
    msg = str(e.value)
    assert needle in msg and "got" in msg and "\n" not in msg


def test_from_json_rejects_unknown_fields_and_newer_schema():
    d = json.loads(mb_spec().to_json())
    d["colour"] = 1
    with pytest.raises(SsdEdgeError, match="unknown spec field"):
        DetectorSpec.from_dict(d)
    d = json.loads(mb_spec().to_json())
    d["schema"] = 99
    with pytest.raises(SsdEdgeError, match="newer"):
        DetectorSpec.from_dict(d)
    with pytest.raises(SsdEdgeError, match="unparsable"):
        DetectorSpec.from_json("{nope")


def test_mobilenet_priors_match_reference_values():
    priors = mb_spec().priors()
    assert priors.shape == (3000, 4) and priors.dtype == np.float32
    first = [[0.02667, 0.02667, 0.2, 0.2], [0.02667, 0.02667, 0.26458, 0.26458],
             [0.02667, 0.02667, 0.28284, 0.14142], [0.02667, 0.02667, 0.14142, 0.28284],
             [0.02667, 0.02667, 0.34641, 0.11547], [0.02667, 0.02667, 0.11547, 0.34641]]
    np.testing.assert_allclose(priors[:6], first, atol=1e-5)
    # x inner, y outer: the second location moves along x by 1/18.75
    np.testing.assert_allclose(priors[6, :2], [1.5 / 18.75, 0.5 / 18.75], atol=1e-6)
    # level offsets of the reference: 0, 2166, 2766, 2916, 2970, 2994
    np.testing.assert_allclose(priors[2166, :2], [0.5 / (300 / 32)] * 2, atol=1e-6)
    np.testing.assert_allclose(priors[2994, :2], [0.5, 0.5], atol=1e-6)
    assert priors.min() >= 0 and priors.max() <= 1


def test_clamp_applies_to_centres_beyond_one():
    spec = mb_spec()
    raw = spec.replace(clamp=False).priors()
    assert raw[:, :2].max() > 1.0          # some 10x10 centres exceed 1 before clamping
    np.testing.assert_array_equal(spec.priors(), np.clip(raw, 0, 1))


def test_vgg_priors_count_and_offsets():
    spec = DetectorSpec(arch="vgg16-ssd", labels=("BACKGROUND", "a"), prior_levels=VGG_LEVELS,
                        mean=(123, 117, 104), std=(1, 1, 1))
    p = spec.priors()
    assert p.shape == (8732, 4) and spec.num_priors == 8732
    np.testing.assert_allclose(p[5776, :2], [0.5 / (300 / 16)] * 2, atol=1e-6)
    np.testing.assert_allclose(p[8728, :2], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(p[0, 2:], [30 / 300, 30 / 300], atol=1e-6)


def test_priors_follow_image_size_for_other_resolutions():
    levels = [PriorLevel(32, 16, 108.8, 190.4)]
    spec = mb_spec().replace(input_size=(512, 512), prior_levels=levels)
    p = spec.priors()
    assert p.shape == (32 * 32 * 6, 4)
    np.testing.assert_allclose(p[0], [0.5 / 32, 0.5 / 32, 108.8 / 512, 108.8 / 512], atol=1e-6)


def test_schema_1_json_reads_as_the_same_spec():
    # A spec JSON as ssd-edge wrote it before non-square inputs (scalar level fields).
    v1 = {"schema": 1, "arch": "mb1-ssd", "labels": ["BACKGROUND", "a", "b"],
          "input_size": [300, 300], "mean": [127.0] * 3, "std": [128.0] * 3,
          "prior_levels": [{"feature_map_size": lv.feature_map_size[0],
                            "shrinkage": lv.shrinkage[0], "min_size": lv.min_size[0],
                            "max_size": lv.max_size, "aspect_ratios": list(lv.aspect_ratios)}
                           for lv in MB_LEVELS]}
    old = DetectorSpec.from_dict(v1)
    assert old == mb_spec()
    np.testing.assert_array_equal(old.priors(), mb_spec().priors())
    assert json.loads(old.to_json())["schema"] == 2
    assert json.loads(old.to_json())["prior_levels"][0]["feature_map_size"] == [19, 19]


def test_non_square_levels_are_per_axis():
    # 320x240 (W x H): a 30x40 map with 8 px cells and three square boxes per location.
    lv = PriorLevel((30, 40), (8.0, 8.0), (10, 16, 24), None, ())
    spec = mb_spec().replace(input_size=(240, 320), prior_levels=(lv,))
    assert spec.frame_size == (320, 240) and lv.boxes_per_location == 3
    p = spec.priors()
    assert p.shape == (30 * 40 * 3, 4) and spec.num_priors == 3600
    np.testing.assert_allclose(p[:3], [[0.5 / 40, 0.5 / 30, s / 320, s / 240] for s in (10, 16, 24)],
                               atol=1e-7)
    # x inner (40 columns), y outer
    np.testing.assert_allclose(p[3, :2], [1.5 / 40, 0.5 / 30], atol=1e-7)
    np.testing.assert_allclose(p[40 * 3, :2], [0.5 / 40, 1.5 / 30], atol=1e-7)
    assert DetectorSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SsdEdgeError, match="square input"):
        spec.image_size


def test_a_spec_without_prior_levels_describes_a_decoded_model():
    spec = mb_spec().replace(arch="foreign", prior_levels=())
    assert spec.num_priors == 0 and DetectorSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SsdEdgeError, match="no prior levels"):
        spec.priors()


def test_duplicate_labels_are_refused():
    with pytest.raises(SsdEdgeError, match="unique label names.*'a' more than once"):
        DetectorSpec(arch="mb1-ssd", labels=("BACKGROUND", "a", "a"), prior_levels=MB_LEVELS)
