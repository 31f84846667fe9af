"""mb1-ssd and mb1-ssd-lite: MobileNetV1 (pytorch-ssd's ``MobileNetV1(1001).model``).

Backbone: ``conv_bn`` then 13 ``conv_dw`` blocks (dw3×3-BN-ReLU-pw1×1-BN-ReLU, convs without
bias). Maps are tapped after block 11 (19×19×512 at 300) and at the end (10×10×1024).
"""
from torch import nn

from .layers import conv_extra, conv_heads, lite_heads
from .ssd import SSD, Tap

# (out channels, stride) of the 13 depthwise-separable blocks.
_DW_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
_MAP_CHANNELS = (512, 1024, 512, 256, 256, 256)


def _conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup),
                         nn.ReLU(inplace=True))


def _conv_dw(inp, oup, stride):
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


def mobilenet_v1_base():
    """Return MobileNetV1's feature layers as an ``nn.Sequential`` of 14 blocks."""
    layers, in_ch = [_conv_bn(3, 32, 2)], 32
    for out, stride in _DW_BLOCKS:
        layers.append(_conv_dw(in_ch, out, stride))
        in_ch = out
    return nn.Sequential(*layers)


def _build(num_classes, anchors, lite):
    extras = [conv_extra(1024, 256, 512, lite=lite), conv_extra(512, 128, 256, lite=lite),
              conv_extra(256, 128, 256, lite=lite), conv_extra(256, 128, 256, lite=lite)]
    if lite:
        # mb1-ssd-lite's separable heads have no BatchNorm and use plain ReLU (upstream).
        cls, reg = lite_heads(_MAP_CHANNELS, anchors, num_classes, batch_norm=False, act=nn.ReLU)
    else:
        cls, reg = conv_heads(_MAP_CHANNELS, anchors, num_classes)
    return SSD(num_classes, mobilenet_v1_base(), [Tap(12), Tap(14)], extras, cls, reg)


def build_mb1_ssd(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained mb1-ssd (``anchors``: boxes per location for the 6 maps)."""
    return _build(num_classes, anchors, lite=False)


def build_mb1_ssd_lite(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained mb1-ssd-lite (``anchors``: boxes per location for the 6 maps)."""
    return _build(num_classes, anchors, lite=True)
