"""sq-ssd-lite: SqueezeNet 1.1 ``features`` with SSD-Lite extras and heads (pytorch-ssd layout).

The first map is the 12th feature layer's output (17×17×512 at 300), hence the squeezenet
prior table's first level of 17; five extra layers follow the last Fire module.
"""
import torch
from torch import nn

from .layers import conv_extra, lite_heads
from .ssd import SSD, Tap


class Fire(nn.Module):
    """Squeeze 1×1 → ReLU → concat(expand 1×1 → ReLU, expand 3×3 → ReLU)."""

    def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
        super(Fire, self).__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


def squeezenet11_features():
    """Return SqueezeNet 1.1's ``features`` (13 layers; pools round down)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256))


def build_sq_ssd_lite(num_classes, anchors, activation=None, width_mult=1.0):
    """Return an untrained sq-ssd-lite (``anchors``: boxes per location for the 6 maps)."""
    extras = [conv_extra(512, 256, 512, padding=2, lite=True),
              conv_extra(512, 256, 512, lite=True), conv_extra(512, 128, 256, lite=True),
              conv_extra(256, 128, 256, lite=True), conv_extra(256, 128, 256, lite=True)]
    cls, reg = lite_heads([512, 512, 512, 256, 256, 256], anchors, num_classes,
                          batch_norm=False, act=nn.ReLU)
    return SSD(num_classes, squeezenet11_features(), [Tap(12)], extras, cls, reg)
