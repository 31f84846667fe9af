"""Building blocks shared by the backbone builders (heads, separable convs, hard activations).

Module structure (which layers sit at which Sequential index) decides the state_dict keys, so
each helper reproduces pytorch-ssd's layout exactly; the comments name the upstream helper.
"""
import torch.nn.functional as F
from torch import nn


def activation_layer(name):
    """Return the module class for a spec activation name (``"relu6"`` or ``"relu"``)."""
    return nn.ReLU if name == "relu" else nn.ReLU6


class HSwish(nn.Module):
    """``x · relu6(x + 3) / 6`` (pytorch-ssd's ``hswish``; no parameters)."""

    def forward(self, x):
        return x * F.relu6(x + 3) / 6


class HSigmoid(nn.Module):
    """``relu6(x + 3) / 6`` (pytorch-ssd's ``hsigmoid``; no parameters)."""

    def forward(self, x):
        return F.relu6(x + 3) / 6


def separable(in_channels, out_channels, kernel_size=3, stride=1, padding=1, batch_norm=False,
              act=nn.ReLU):
    """Depthwise ``k×k`` conv (with bias) → [BatchNorm] → activation → pointwise 1×1 conv.

    Without BatchNorm: keys ``.0`` / ``.2`` (mb1-ssd-lite, sq-ssd-lite ``SeperableConv2d``);
    with it: ``.0`` / ``.1`` / ``.3`` (mb2 / mb3 ``SeperableConv2d``, ReLU6 there).
    """
    layers = [nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                        groups=in_channels)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(in_channels))
    layers += [act(), nn.Conv2d(in_channels, out_channels, kernel_size=1)]
    return nn.Sequential(*layers)


def conv_heads(channels, anchors, num_classes):
    """Plain 3×3 (padding 1) conv heads (vgg16-ssd, mb1-ssd).

    Returns ``(classification_headers, regression_headers)`` lists, one per feature map.
    """
    cls = [nn.Conv2d(c, a * num_classes, kernel_size=3, padding=1)
           for c, a in zip(channels, anchors)]
    reg = [nn.Conv2d(c, a * 4, kernel_size=3, padding=1) for c, a in zip(channels, anchors)]
    return cls, reg


def lite_heads(channels, anchors, num_classes, batch_norm, act):
    """SSD-Lite heads: separable 3×3 heads on every map but the last, a plain 1×1 conv there.

    Returns ``(classification_headers, regression_headers)`` lists, one per feature map.
    """
    def one(c, out, last):
        if last:
            return nn.Conv2d(c, out, kernel_size=1)
        return separable(c, out, batch_norm=batch_norm, act=act)

    n = len(channels)
    cls = [one(c, a * num_classes, i == n - 1) for i, (c, a) in enumerate(zip(channels, anchors))]
    reg = [one(c, a * 4, i == n - 1) for i, (c, a) in enumerate(zip(channels, anchors))]
    return cls, reg


def conv_extra(in_channels, mid, out_channels, stride=2, padding=1, lite=False):
    """``Conv1×1 → ReLU → (Conv3×3 → ReLU | separable 3×3)`` (mb1 / vgg / sq extras)."""
    if lite:
        return nn.Sequential(nn.Conv2d(in_channels, mid, kernel_size=1), nn.ReLU(),
                             separable(mid, out_channels, stride=stride, padding=padding))
    return nn.Sequential(nn.Conv2d(in_channels, mid, kernel_size=1), nn.ReLU(),
                         nn.Conv2d(mid, out_channels, kernel_size=3, stride=stride,
                                   padding=padding), nn.ReLU())
