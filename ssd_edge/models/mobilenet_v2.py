"""mb2-ssd-lite: MobileNetV2 ``features`` with SSD-Lite extras and heads (pytorch-ssd layout).

The backbone activation is the spec's (``relu6`` as published, ``relu`` for pytorch-ssd's
``onnx_compatible`` variant); the extras and all heads use ReLU6 regardless, as upstream.
Activations carry no weights, so the checkpoint cannot tell them apart: the spec records it.
"""
from torch import nn

from .layers import activation_layer, lite_heads
from .ssd import SSD, Tap

# (expansion t, channels c, repeats n, first stride s) of the inverted residual stages.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))
# Block 14 opens the 160-channel stage; the first head reads its expanded 1×1 output.
_TAP_BLOCK = 14


class InvertedResidual(nn.Module):
    """MobileNetV2 block; ``conv`` holds the layers (keys ``conv.0`` … as upstream)."""

    def __init__(self, inp, oup, stride, expand_ratio, act=nn.ReLU6):
        super(InvertedResidual, self).__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                       act(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), act(inplace=True),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


def mobilenet_v2_features(width_mult=1.0, act=nn.ReLU6):
    """Return ``(features nn.Sequential, channels of the first tap, last channels)``."""
    in_ch = int(32 * width_mult)
    last = int(1280 * width_mult) if width_mult > 1.0 else 1280
    layers = [nn.Sequential(nn.Conv2d(3, in_ch, 3, 2, 1, bias=False), nn.BatchNorm2d(in_ch),
                            act(inplace=True))]
    for t, c, n, s in _STAGES:
        out = int(c * width_mult)
        for i in range(n):
            layers.append(InvertedResidual(in_ch, out, s if i == 0 else 1, t, act))
            in_ch = out
    layers.append(nn.Sequential(nn.Conv2d(in_ch, last, 1, 1, 0, bias=False),
                                nn.BatchNorm2d(last), act(inplace=True)))
    tap_channels = layers[_TAP_BLOCK].conv[0].out_channels
    return nn.Sequential(*layers), tap_channels, last


def build_mb2_ssd_lite(num_classes, anchors, activation="relu6", width_mult=1.0):
    """Return an untrained mb2-ssd-lite (``anchors``: boxes per location for the 6 maps).

    Upstream sizes the first head ``round(576 * width_mult)``; this reads the channels off the
    backbone instead, which is the same number wherever upstream's net runs at all.
    """
    base, tap_ch, last = mobilenet_v2_features(width_mult, activation_layer(activation))
    taps = [Tap(_TAP_BLOCK, path=("conv", 3)), Tap(len(base))]
    extras = [InvertedResidual(last, 512, 2, 0.2), InvertedResidual(512, 256, 2, 0.25),
              InvertedResidual(256, 256, 2, 0.5), InvertedResidual(256, 64, 2, 0.25)]
    cls, reg = lite_heads([tap_ch, last, 512, 256, 256, 64], anchors, num_classes,
                          batch_norm=True, act=nn.ReLU6)
    return SSD(num_classes, base, taps, extras, cls, reg)


# Widths that people train with, preferred when the shapes allow several multipliers.
_COMMON_WIDTHS = (1.0, 0.75, 0.5, 1.4, 0.35, 1.3, 0.25)


def width_mult_from_shapes(shapes):
    """Infer the width multiplier of an mb2-ssd-lite state_dict from its channel counts.

    Args:
        shapes: ``{key: shape tuple}`` of the checkpoint.
    Returns the multiplier (a common value when several fit), or None when nothing fits. Every
    ``int(c · w) = n`` constraint bounds ``w`` to ``[n / c, (n + 1) / c)``; the caller still
    verifies the result by building the net and comparing every shape.
    """
    pairs = []
    stem = shapes.get("base_net.0.0.weight")
    if stem is not None:
        pairs.append((32, stem[0]))
    index = 1
    for _, c, n, _ in _STAGES:
        for _ in range(n):
            convs = [k for k in shapes if k.startswith("base_net.%d.conv." % index)
                     and k.endswith(".weight") and len(shapes[k]) == 4]
            if convs:
                last = max(convs, key=lambda k: int(k.split(".")[3]))
                pairs.append((c, shapes[last][0]))
            index += 1
    if not pairs:
        return None
    lo = max(float(n) / c for c, n in pairs)
    hi = min(float(n + 1) / c for c, n in pairs)
    for w in _COMMON_WIDTHS:
        if lo <= w < hi:
            return w
    if lo >= hi:
        return None
    nice = -(-lo * 100 // 1) / 100  # lo rounded up to two decimals
    return nice if nice < hi else lo
