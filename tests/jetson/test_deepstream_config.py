"""DeepStream files derived from a DetectorSpec: nvinfer config, labels, Makefile, app config."""
import configparser
import os

import numpy as np
import pytest

from ssd_edge import NmsDefaults, SsdEdgeError
from ssd_edge.export.deepstream import (deepstream_app_text, labels_text, nvinfer_config,
                                        nvinfer_preprocess, write_deepstream)
from ssd_edge.models.specs import default_spec

LABELS = ("BACKGROUND", "person", "car", "dog")


def ini(text):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return cp


@pytest.mark.parametrize("arch", ["vgg16-ssd", "mb1-ssd", "mb2-ssd-lite"])
def test_preprocessing_matches_the_spec_on_pixels(arch):
    spec = default_spec(arch, LABELS)
    cfg = ini(nvinfer_config(spec, "m.onnx"))["property"]
    scale = float(cfg["net-scale-factor"])
    offsets = np.array([float(v) for v in cfg["offsets"].split(";")], np.float64)
    assert scale == 1.0 / spec.std[0] and tuple(offsets) == spec.mean
    assert cfg["model-color-format"] == "0"                     # RGB, as the spec says
    x = np.random.default_rng(0).integers(0, 256, (5, 3)).astype(np.float64)
    nvinfer = scale * (x - offsets)                             # what nvinfer computes
    ours = (x - np.array(spec.mean)) / np.array(spec.std)       # what ssd-edge computes
    np.testing.assert_allclose(nvinfer, ours, rtol=1e-12)


def test_vgg_and_mobilenet_values_differ_as_their_specs_do():
    vgg = ini(nvinfer_config(default_spec("vgg16-ssd", LABELS), "m.onnx"))["property"]
    mb = ini(nvinfer_config(default_spec("mb1-ssd", LABELS), "m.onnx"))["property"]
    assert (vgg["net-scale-factor"], vgg["offsets"]) == ("1.0", "123.0;117.0;104.0")
    assert (mb["net-scale-factor"], mb["offsets"]) == ("0.0078125", "127.0;127.0;127.0")


def test_per_channel_std_cannot_be_represented():
    spec = default_spec("mb1-ssd", LABELS).replace(std=(58.395, 57.12, 57.375))
    with pytest.raises(SsdEdgeError, match="one net-scale-factor.*std=\\(58.395, 57.12, 57.375\\)"):
        nvinfer_preprocess(spec)


def test_bgr_spec_sets_color_format_and_keeps_offsets_in_its_order():
    spec = default_spec("vgg16-ssd", LABELS).replace(channel_order="BGR", mean=(104.0, 117.0, 123.0))
    cfg = ini(nvinfer_config(spec, "m.onnx"))["property"]
    assert cfg["model-color-format"] == "1" and cfg["offsets"] == "104.0;117.0;123.0"


@pytest.mark.parametrize("precision,mode", [("fp32", "0"), ("int8", "1"), ("fp16", "2")])
def test_network_mode_per_precision(precision, mode):
    cfg = ini(nvinfer_config(default_spec("mb1-ssd", LABELS), "m.onnx", precision))
    assert cfg["property"]["network-mode"] == mode


def test_bad_precision_and_labels_are_user_errors():
    spec = default_spec("mb1-ssd", LABELS)
    with pytest.raises(SsdEdgeError, match="expected precision fp32, fp16 or int8, got 'bf16'"):
        nvinfer_config(spec, "m.onnx", "bf16")
    with pytest.raises(SsdEdgeError, match="';'"):
        labels_text(spec.replace(labels=("BACKGROUND", "a;b")))
    with pytest.raises(SsdEdgeError, match="usb or csi"):
        deepstream_app_text(camera="ip")


def test_decoded_layout_clusters_with_our_iou_and_thresholds():
    spec = default_spec("mb1-ssd", LABELS).replace(
        nms=NmsDefaults(conf_threshold=0.3, iou_threshold=0.5, candidate_size=100,
                        max_detections=50))
    cfg = ini(nvinfer_config(spec, "m.onnx"))
    p, c = cfg["property"], cfg["class-attrs-all"]
    assert p["num-detected-classes"] == "4"
    assert p["output-blob-names"] == "scores;boxes"
    assert p["parse-bbox-func-name"] == "NvDsInferParseSsdEdge"
    assert p["cluster-mode"] == "2"
    assert (c["pre-cluster-threshold"], c["nms-iou-threshold"], c["topk"]) == ("0.3", "0.5", "50")


def test_nms_layout_uses_the_nms_parser_without_clustering():
    spec = default_spec("mb1-ssd", LABELS).replace(output_layout="nms")
    cfg = ini(nvinfer_config(spec, "m.onnx"))
    p = cfg["property"]
    assert p["output-blob-names"] == \
        "num_detections;detection_boxes;detection_scores;detection_classes"
    assert p["parse-bbox-func-name"] == "NvDsInferParseSsdEdgeNms" and p["cluster-mode"] == "4"
    assert "nms-iou-threshold" not in cfg["class-attrs-all"]


def test_write_deepstream_writes_five_consistent_files(tmp_path):
    onnx = tmp_path / "models" / "mb1.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"not parsed here")
    spec = default_spec("mb1-ssd", LABELS).replace(
        nms=NmsDefaults(iou_threshold=0.5, candidate_size=150, top_k=10, max_detections=30))
    out = tmp_path / "ds"
    paths = write_deepstream(str(onnx), spec, str(out), precision="int8", camera="csi", device=1)
    assert [os.path.basename(p) for p in paths] == [
        "config_infer_primary_ssd_edge.txt", "labels.txt", "nvdsparsebbox_ssd_edge.cpp",
        "Makefile", "deepstream_app_ssd_edge.txt"]
    assert all(os.path.getsize(p) > 0 for p in paths)
    prop = ini(open(paths[0]).read())["property"]
    # nvinfer resolves paths relative to the config file's folder.
    assert os.path.samefile(os.path.join(str(out), prop["onnx-file"]), str(onnx))
    assert prop["model-engine-file"] == "../models/mb1.onnx_b1_gpu0_int8.engine"
    assert os.path.isfile(os.path.join(str(out), prop["labelfile-path"]))
    assert open(paths[1]).read().splitlines() == list(LABELS)
    make = open(paths[3]).read()
    assert "-DSSD_EDGE_IOU_THRESHOLD=0.5f -DSSD_EDGE_CANDIDATE_SIZE=150 -DSSD_EDGE_TOP_K=10 " \
           "-DSSD_EDGE_MAX_DETECTIONS=30" in make
    assert "libnvds_ssd_edge_parser.so" in make and prop["custom-lib-path"] in make
    app = ini(open(paths[4]).read())
    assert app["source0"]["type"] == "5" and app["source0"]["camera-csi-sensor-id"] == "1"
    assert app["primary-gie"]["config-file"] == "config_infer_primary_ssd_edge.txt"
    assert app["streammux"]["live-source"] == "1"


def test_write_deepstream_refuses_a_missing_onnx(tmp_path):
    with pytest.raises(SsdEdgeError, match="expected an ONNX file"):
        write_deepstream(str(tmp_path / "nope.onnx"), default_spec("mb1-ssd", LABELS),
                         str(tmp_path / "ds"))
    assert not (tmp_path / "ds").exists()
