"""resnet50-ssd: SSD300 on ResNet-50, the layout of NVIDIA's SSD300 v1.1 (DeepLearningExamples).

Backbone (``base_net``): torchvision's ResNet-50 children up to ``layer3`` — ``conv1``, ``bn1``,
``relu``, ``maxpool``, ``layer1``, ``layer2``, ``layer3`` — under torchvision's own names, so a
torchvision-layout ResNet-50 state_dict loads into it key for key (``fc.*`` and ``layer4.*``
are not used). The first block of ``layer3`` runs at stride 1 (its ``conv1``, ``conv2`` and
``downsample.0``), which keeps the first head's map at stride 8: 38×38×1024 at 300. Strides
carry no weights, so the torchvision weights fit unchanged.

Extras: five ``1×1 conv → BN → ReLU → 3×3 conv → BN → ReLU`` blocks (convs without bias) making
the 19, 10, 5, 3, 1 maps of 512, 512, 256, 256, 256 channels (stride 2 and padding 1 for the
first three, stride 1 and no padding for the last two). Heads: plain 3×3 convs, 4, 6, 6, 6, 4, 4
boxes per location → 8732 priors at 300. Key layout: docs/models.md.
"""
import collections

from torch import nn

from .layers import conv_heads
from .ssd import SSD, Tap

# (blocks, bottleneck width, stride of the first block) of layer1..layer3. layer3 keeps stride
# 1 (torchvision: 2) so the first head reads a stride-8 map, as NVIDIA's SSD300.
_STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 1))
_EXPANSION = 4
# (mid channels, out channels, stride, padding) of the extras, from the 1024-channel map on.
_EXTRAS = ((256, 512, 2, 1), (256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, 0),
           (128, 256, 1, 0))

#: torchvision ResNet-50 key prefixes the SSD does not use (classifier and the fourth stage).
TORCHVISION_UNUSED = ("fc.", "layer4.")


class Bottleneck(nn.Module):
    """torchvision's ResNet V1.5 bottleneck (stride on the 3×3 conv), its attribute names kept
    so the keys are torchvision's: ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``, ``bn3``,
    ``downsample.0`` / ``downsample.1``."""

    def __init__(self, inplanes, width, stride=1):
        super(Bottleneck, self).__init__()
        out = width * _EXPANSION
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


def resnet50_base():
    """Return ResNet-50 up to ``layer3`` as a named ``nn.Sequential`` (1024 channels out)."""
    parts = [("conv1", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
             ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU(inplace=True)),
             ("maxpool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
    in_ch = 64
    for i, (blocks, width, stride) in enumerate(_STAGES):
        layer = []
        for b in range(blocks):
            layer.append(Bottleneck(in_ch, width, stride if b == 0 else 1))
            in_ch = width * _EXPANSION
        parts.append(("layer%d" % (i + 1), nn.Sequential(*layer)))
    return nn.Sequential(collections.OrderedDict(parts))


def _extra(in_channels, mid, out, stride, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, kernel_size=1, bias=False), nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, out, kernel_size=3, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(out), nn.ReLU(inplace=True))


def build_resnet50_ssd(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained resnet50-ssd (``anchors``: boxes per location for the 6 maps)."""
    base = resnet50_base()
    extras, channels = [], [1024]
    for mid, out, stride, padding in _EXTRAS:
        extras.append(_extra(channels[-1], mid, out, stride, padding))
        channels.append(out)
    cls, reg = conv_heads(channels, anchors, num_classes)
    return SSD(num_classes, base, [Tap(len(base))], extras, cls, reg)


def torchvision_to_base_net(state):
    """Map a torchvision-layout ResNet-50 state_dict onto ``base_net``'s keys.

    The rule: a torchvision key ``K`` is ``base_net.K`` in the SSD, i.e. ``K`` inside
    ``base_net``; keys under ``fc.`` and ``layer4.`` are dropped. Returns a new dict in the
    file's key order; checking what is missing or left over is the caller's job.
    """
    return collections.OrderedDict((k, v) for k, v in state.items()
                                   if not k.startswith(TORCHVISION_UNUSED))
