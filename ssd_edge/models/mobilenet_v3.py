"""mb3-large-ssd-lite and mb3-small-ssd-lite: pytorch-ssd's own MobileNetV3 (not torchvision's).

Conventions of that implementation, kept for weight compatibility: hswish/hsigmoid via ReLU6,
the squeeze-excite module after the block's last BatchNorm, a residual only at stride 1 (through
a 1×1 conv + BN when the channels change), and ``features`` = stem conv, BN, hswish, the blocks,
then the final 1×1 conv, BN, hswish.
"""
from torch import nn

from .layers import HSigmoid, HSwish, lite_heads
from .ssd import SSD, Tap

_R, _H = "relu", "hswish"
# (kernel, expand, out, nonlinearity, squeeze-excite, stride); input channels chain from 16.
_LARGE = ((3, 16, 16, _R, False, 1), (3, 64, 24, _R, False, 2), (3, 72, 24, _R, False, 1),
          (5, 72, 40, _R, True, 2), (5, 120, 40, _R, True, 1), (5, 120, 40, _R, True, 1),
          (3, 240, 80, _H, False, 2), (3, 200, 80, _H, False, 1), (3, 184, 80, _H, False, 1),
          (3, 184, 80, _H, False, 1), (3, 480, 112, _H, True, 1), (3, 672, 112, _H, True, 1),
          (5, 672, 160, _H, True, 1), (5, 672, 160, _H, True, 2), (5, 960, 160, _H, True, 1))
_SMALL = ((3, 16, 16, _R, True, 2), (3, 72, 24, _R, False, 2), (3, 88, 24, _R, False, 1),
          (5, 96, 40, _H, True, 2), (5, 240, 40, _H, True, 1), (5, 240, 40, _H, True, 1),
          (5, 120, 48, _H, True, 1), (5, 144, 48, _H, True, 1), (5, 288, 96, _H, True, 2),
          (5, 576, 96, _H, True, 1), (5, 576, 96, _H, True, 1))


class SeModule(nn.Module):
    """Squeeze-excite; ``se`` holds pool, 1×1 conv, BN, ReLU, 1×1 conv, BN, hsigmoid."""

    def __init__(self, channels, reduction=4):
        super(SeModule, self).__init__()
        mid = channels // reduction
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1, bias=False), nn.BatchNorm2d(channels), HSigmoid())

    def forward(self, x):
        return x * self.se(x)


class Block(nn.Module):
    """Expand 1×1 → depthwise k×k → project 1×1, optional SE, residual at stride 1."""

    def __init__(self, kernel, in_ch, expand, out_ch, nonlinearity, se, stride):
        super(Block, self).__init__()
        self.stride = stride
        # ``se`` registered first: upstream's key order puts it before conv1.
        self.se = SeModule(out_ch) if se else None
        make = HSwish if nonlinearity == _H else (lambda: nn.ReLU(inplace=True))
        self.conv1 = nn.Conv2d(in_ch, expand, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(expand)
        self.nolinear1 = make()
        self.conv2 = nn.Conv2d(expand, expand, kernel, stride, kernel // 2, groups=expand,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(expand)
        self.nolinear2 = make()
        self.conv3 = nn.Conv2d(expand, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = self.nolinear1(self.bn1(self.conv1(x)))
        out = self.nolinear2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return out + self.shortcut(x) if self.stride == 1 else out


def mobilenet_v3_features(table, last):
    """Return the ``features`` Sequential for a block table and final channel count."""
    layers, in_ch = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), HSwish()], 16
    for kernel, expand, out, nl, se, stride in table:
        layers.append(Block(kernel, in_ch, expand, out, nl, se, stride))
        in_ch = out
    layers += [nn.Conv2d(in_ch, last, 1, bias=False), nn.BatchNorm2d(last), HSwish()]
    return nn.Sequential(*layers)


def _build(num_classes, anchors, table, tap, tap_ch, last):
    base = mobilenet_v3_features(table, last)
    extras = [Block(3, last, 256, 512, _H, False, 2), Block(3, 512, 128, 256, _H, False, 2),
              Block(3, 256, 128, 256, _H, False, 2), Block(3, 256, 64, 64, _H, False, 2)]
    cls, reg = lite_heads([tap_ch, last, 512, 256, 256, 64], anchors, num_classes,
                          batch_norm=True, act=nn.ReLU6)
    return SSD(num_classes, base, [Tap(tap), Tap(len(base))], extras, cls, reg)


def build_mb3_large_ssd_lite(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained mb3-large-ssd-lite (taps after block 12: 112 ch; the end: 960)."""
    return _build(num_classes, anchors, _LARGE, 15, 112, 960)


def build_mb3_small_ssd_lite(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained mb3-small-ssd-lite (taps after block 8: 48 ch; the end: 576)."""
    return _build(num_classes, anchors, _SMALL, 11, 48, 576)
