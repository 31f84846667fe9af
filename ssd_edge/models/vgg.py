"""vgg16-ssd: VGG16 with the reduced fc layers (conv6 dilated, conv7 1×1), pytorch-ssd layout.

The paper's L2Norm on conv4_3 is a ``BatchNorm2d(512)`` here, as in pytorch-ssd
(``source_layer_add_ons.0``). The third max-pool rounds up (``ceil_mode``), which turns the
75×75 map into 38×38 at 300.
"""
from torch import nn

from .layers import conv_extra, conv_heads
from .ssd import SSD, Tap

# Channels per 3×3 conv; "M" a 2×2 max-pool, "C" the same with ceil_mode (pytorch-ssd's config).
_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512)


def vgg16_base():
    """Return the backbone as a list of layers (indices are state_dict key indices)."""
    layers, in_ch = [], 3
    for v in _CONFIG:
        if v in ("M", "C"):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=(v == "C")))
        else:
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    layers += [nn.MaxPool2d(kernel_size=3, stride=1, padding=1),               # pool5
               nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),    # conv6
               nn.ReLU(inplace=True),
               nn.Conv2d(1024, 1024, kernel_size=1),                          # conv7
               nn.ReLU(inplace=True)]
    return layers


def build_vgg16_ssd(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained vgg16-ssd (``anchors``: boxes per location for the 6 maps)."""
    base = nn.ModuleList(vgg16_base())
    # Tap 1 after conv4_3 + ReLU (index 23) through the BatchNorm; tap 2 at the end (conv7).
    taps = [Tap(23, add_on=0), Tap(len(base))]
    extras = [conv_extra(1024, 256, 512), conv_extra(512, 128, 256),
              conv_extra(256, 128, 256, stride=1, padding=0),
              conv_extra(256, 128, 256, stride=1, padding=0)]
    cls, reg = conv_heads([512, 1024, 512, 256, 256, 256], anchors, num_classes)
    return SSD(num_classes, base, taps, extras, cls, reg, add_ons=[nn.BatchNorm2d(512)])
