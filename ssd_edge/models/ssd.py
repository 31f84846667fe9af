"""The generic SSD module: a backbone tapped at some layers, extra layers, and one
classification and one regression head per feature map — pytorch-ssd's ``SSD`` composition.

Attribute names and registration order (``base_net``, ``extras``, ``classification_headers``,
``regression_headers``, ``source_layer_add_ons``) are pytorch-ssd's, so ``state_dict()`` has
exactly its keys in its order and its checkpoints load unchanged. The priors are a
non-persistent buffer: they follow ``.to(device)`` but never enter a checkpoint.
"""
import collections

import torch
import torch.nn.functional as F
from torch import nn

# One place where the backbone feeds a head (pytorch-ssd's ``source_layer_indexes`` entry):
#   end: run base_net[start:end] first;
#   add_on: index into source_layer_add_ons applied to the tapped map (vgg's BatchNorm), or None;
#   path: (attribute, split) to tap *inside* base_net[end] after sub-layers [:split]
#         (pytorch-ssd's GraphPath, used by mb2-ssd-lite), or None.
Tap = collections.namedtuple("Tap", ["end", "add_on", "path"])
Tap.__new__.__defaults__ = (None, None)


def decode_corner(locations, priors, center_variance, size_variance):
    """Raw regression outputs → corner-form boxes, as pytorch-ssd's
    ``convert_locations_to_boxes`` followed by ``center_form_to_corner_form``.

    Args:
        locations: ``(B, P, 4) float32`` raw ``(dx, dy, dw, dh)``.
        priors: ``(P, 4) float32`` centre-form priors ``(cx, cy, w, h)`` in [0, 1].
    Returns:
        ``(B, P, 4) float32`` ``(x1, y1, x2, y2)`` normalised to the input, not clamped.
    """
    priors = priors.unsqueeze(0)
    # Same operations in the same order as upstream, so results agree bit for bit.
    centers = locations[..., :2] * center_variance * priors[..., 2:] + priors[..., :2]
    sizes = torch.exp(locations[..., 2:] * size_variance) * priors[..., 2:]
    return torch.cat([centers - sizes / 2, centers + sizes / 2], dim=locations.dim() - 1)


class SSD(nn.Module):
    """An SSD detector.

    Training mode returns the raw ``(confidences (B, P, C), locations (B, P, 4))``; eval mode
    returns ``(scores (B, P, C) softmax over classes, boxes (B, P, 4) corner form normalised,
    not clamped)`` — exactly pytorch-ssd with ``is_test=True``. Input: ``(B, 3, H, W) float32``,
    RGB normalised by the spec's mean/std. ``forward`` is :meth:`heads` then (in eval mode)
    :meth:`decode`; the torch frame path calls the two itself to decode in FP32 behind FP16 heads.
    """

    def __init__(self, num_classes, base_net, taps, extras, classification_headers,
                 regression_headers, add_ons=(), priors=None, center_variance=0.1,
                 size_variance=0.2):
        super(SSD, self).__init__()
        self.num_classes = int(num_classes)
        self.taps = tuple(t if isinstance(t, Tap) else Tap(t) for t in taps)
        # Registration order fixes the state_dict key order; it is pytorch-ssd's.
        self.base_net = base_net
        self.extras = nn.ModuleList(extras)
        self.classification_headers = nn.ModuleList(classification_headers)
        self.regression_headers = nn.ModuleList(regression_headers)
        self.source_layer_add_ons = nn.ModuleList(add_ons)
        self.center_variance = float(center_variance)
        self.size_variance = float(size_variance)
        self.register_buffer("priors", None if priors is None else
                             torch.as_tensor(priors, dtype=torch.float32), persistent=False)

    @property
    def num_maps(self):
        return len(self.taps) + len(self.extras)

    def walk(self, x, on_map):
        """Run the backbone and extras, calling ``on_map(index, feature_map)`` at every tap and
        after every extra layer, in head order, as soon as the map exists (as upstream does)."""
        start = index = 0
        for tap in self.taps:
            end = tap.end
            for layer in self.base_net[start:end]:
                x = layer(x)
            if tap.path is not None:
                attr, split = tap.path
                sub = getattr(self.base_net[end], attr)
                for layer in sub[:split]:
                    x = layer(x)
                y = x
                for layer in sub[split:]:
                    x = layer(x)
                end += 1
            elif tap.add_on is not None:
                y = self.source_layer_add_ons[tap.add_on](x)
            else:
                y = x
            on_map(index, y)
            index += 1
            start = end
        for layer in self.base_net[start:]:
            x = layer(x)
        for layer in self.extras:
            x = layer(x)
            on_map(index, x)
            index += 1

    def heads(self, x):
        """Run the network up to its heads: ``(B, 3, H, W)`` input → raw ``(confidences
        (B, P, C), locations (B, P, 4))`` in prior order (what training mode returns), in the
        module's dtype."""
        confidences, locations = [], []

        def collect(i, y):
            c = self.classification_headers[i](y)
            loc = self.regression_headers[i](y)
            # NCHW → NHWC → (B, H·W·anchors, C): the prior order of generate_ssd_priors.
            confidences.append(c.permute(0, 2, 3, 1).reshape(c.shape[0], -1, self.num_classes))
            locations.append(loc.permute(0, 2, 3, 1).reshape(loc.shape[0], -1, 4))

        self.walk(x, collect)
        return torch.cat(confidences, 1), torch.cat(locations, 1)

    def decode(self, confidences, locations, priors=None):
        """Raw head outputs → ``(scores (B, P, C) softmax over classes, boxes (B, P, 4) corner
        form normalised, not clamped)``, computed in the inputs' dtype.

        ``priors``: ``(P, 4)`` centre-form priors to use instead of the module's buffer (e.g. a
        float32 copy kept when the module itself runs in FP16).
        """
        if priors is None:
            priors = self.priors
        if priors is None:
            raise RuntimeError("SSD has no priors; build it with ssd_edge.models.build_model")
        return F.softmax(confidences, dim=2), decode_corner(locations, priors,
                                                            self.center_variance,
                                                            self.size_variance)

    def forward(self, x):
        conf, loc = self.heads(x)
        if self.training:
            return conf, loc
        return self.decode(conf, loc)

    def feature_map_sizes(self, size):
        """Return the ``(H, W)`` of every head's input for a ``size``×``size`` input (or an
        ``(H, W)`` pair).

        Runs the layers without computing heads; on a model built on the ``meta`` device this
        costs no arithmetic. Raises whatever torch raises when a layer cannot take the size.
        """
        param = next(self.parameters())
        h, w = (size, size) if isinstance(size, int) else size
        x = torch.zeros(1, 3, h, w, dtype=param.dtype, device=param.device)
        sizes = []
        with torch.no_grad():
            self.walk(x, lambda i, y: sizes.append((int(y.shape[-2]), int(y.shape[-1]))))
        return sizes

    def anchors_per_map(self):
        """Return the number of boxes per location each regression head predicts."""
        return [_out_channels(h) // 4 for h in self.regression_headers]


def _out_channels(head):
    """Output channels of a head (its last Conv2d)."""
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels
