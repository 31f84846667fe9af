"""ultraface-slim and ultraface-rfb: the Ultra-Light-Fast-Generic-Face-Detector-1MB nets.

Backbone (16 base channels): ``conv_bn`` then 12 depthwise-separable blocks, the RFB variant
replacing the 8th with a receptive-field block (three dilated branches plus a 1×1 shortcut).
Maps are tapped after blocks 8 (stride 8, 64 ch) and 11 (stride 16, 128 ch), at the end
(stride 32, 256 ch), and after one extra layer (stride 64, 256 ch). Heads are separable 3×3
convs (a plain 3×3 conv on the last map) predicting 3, 2, 2, 3 boxes per location.

Module names and nesting follow the published checkpoints' state_dict exactly (``base_net.N``,
``extras.0``, ``classification_headers.N``, ``regression_headers.N``), so those files load with
``strict=True``; :mod:`ssd_edge.models.detect` recognises them from their keys.
"""
import torch
from torch import nn

from .mobilenet_v1 import _conv_bn, _conv_dw   # the same layers, keyed the same way
from .ssd import SSD, Tap

_BASE = 16
# (out channels as multiples of the base, stride) of the depthwise-separable blocks after conv_bn.
_DW_BLOCKS = ((2, 1), (2, 2), (2, 1), (4, 2), (4, 1), (4, 1), (4, 1), (8, 2), (8, 1), (8, 1),
              (16, 2), (16, 1))
_RFB_INDEX = 7          # base_net index the RFB block takes in ultraface-rfb
_MAP_CHANNELS = (4 * _BASE, 8 * _BASE, 16 * _BASE, 16 * _BASE)
_TAPS = (8, 11, 13)


def _separable(inp, oup, stride=1):
    """Depthwise 3×3 (with bias) → ReLU → pointwise 1×1 (with bias); no BatchNorm."""
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp), nn.ReLU(),
                         nn.Conv2d(inp, oup, 1))


class ConvBn(nn.Module):
    """Conv (no bias) → BatchNorm → optional ReLU; attribute names ``conv``/``bn``."""

    def __init__(self, inp, oup, kernel_size, stride=1, padding=0, dilation=1, relu=True):
        super(ConvBn, self).__init__()
        self.conv = nn.Conv2d(inp, oup, kernel_size, stride, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(oup, eps=1e-5, momentum=0.01)
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.relu(x) if self.relu is not None else x


class ReceptiveFieldBlock(nn.Module):
    """RFB (Liu et al., ECCV 2018) as UltraFace configures it: 1×1 reduction by 8, three
    branches with dilations 2, 3 and 5, concatenated, projected back and added to a 1×1
    shortcut, then ReLU. ``(B, C, H, W) → (B, C, H, W)``."""

    def __init__(self, channels, scale=1.0):
        super(ReceptiveFieldBlock, self).__init__()
        mid = channels // 8
        self.scale = float(scale)
        self.branch0 = nn.Sequential(
            ConvBn(channels, mid, 1, relu=False), ConvBn(mid, 2 * mid, 3, padding=1),
            ConvBn(2 * mid, 2 * mid, 3, padding=2, dilation=2, relu=False))
        self.branch1 = nn.Sequential(
            ConvBn(channels, mid, 1, relu=False), ConvBn(mid, 2 * mid, 3, padding=1),
            ConvBn(2 * mid, 2 * mid, 3, padding=3, dilation=3, relu=False))
        self.branch2 = nn.Sequential(
            ConvBn(channels, mid, 1, relu=False), ConvBn(mid, (mid // 2) * 3, 3, padding=1),
            ConvBn((mid // 2) * 3, 2 * mid, 3, padding=1),
            ConvBn(2 * mid, 2 * mid, 3, padding=5, dilation=5, relu=False))
        self.ConvLinear = ConvBn(6 * mid, channels, 1, relu=False)
        self.shortcut = ConvBn(channels, channels, 1, relu=False)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        # The upstream graph multiplies by the scale even when it is 1.0; kept so an exported
        # graph has the same operations.
        out = self.ConvLinear(out) * self.scale + self.shortcut(x)
        return self.relu(out)


def _backbone(rfb):
    layers, in_ch = [_conv_bn(3, _BASE, 2)], _BASE
    for index, (mult, stride) in enumerate(_DW_BLOCKS, start=1):
        out = mult * _BASE
        if rfb and index == _RFB_INDEX:
            layers.append(ReceptiveFieldBlock(in_ch, scale=1.0))
        else:
            layers.append(_conv_dw(in_ch, out, stride))
        in_ch = out
    return nn.Sequential(*layers)


def _heads(anchors, width):
    heads = [_separable(ch, a * width) for ch, a in zip(_MAP_CHANNELS[:-1], anchors[:-1])]
    heads.append(nn.Conv2d(_MAP_CHANNELS[-1], anchors[-1] * width, 3, padding=1))
    return heads


def _build(num_classes, anchors, rfb):
    anchors = list(anchors)
    extras = [nn.Sequential(nn.Conv2d(16 * _BASE, 4 * _BASE, 1), nn.ReLU(),
                            _separable(4 * _BASE, 16 * _BASE, stride=2), nn.ReLU())]
    return SSD(num_classes, _backbone(rfb), [Tap(t) for t in _TAPS], extras,
               _heads(anchors, num_classes), _heads(anchors, 4))


def build_ultraface_slim(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained ultraface-slim (``anchors``: boxes per location for the 4 maps)."""
    return _build(num_classes, anchors, rfb=False)


def build_ultraface_rfb(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained ultraface-rfb (``anchors``: boxes per location for the 4 maps)."""
    return _build(num_classes, anchors, rfb=True)
