"""The net to train: zoo net and its starting weights, optimiser groups, the lr schedule."""
import logging
import math

import torch

from ..errors import SsdEdgeError

LOG = logging.getLogger("ssd_edge.train")


def build_net(opts, labels):
    """``(net, spec)``: the zoo net for ``opts.net`` with ``labels``, weights as asked."""
    from ..models.zoo import build_model, build_spec

    spec = build_spec(opts.net, list(labels), opts.resolution, opts.activation, opts.width_mult)
    net = build_model(spec)
    if opts.base_net:
        from ..models import checkpoint
        loader = getattr(checkpoint, "load_base_net", None)
        if loader is None:
            raise SsdEdgeError("expected base-net loading support for %s, got none in this "
                               "installation" % opts.net)
        loader(net, opts.base_net, opts.net)
        LOG.info("backbone from %s", opts.base_net)
    if opts.pretrained_ssd:
        load_pretrained_ssd(net, opts.pretrained_ssd)
        LOG.info("everything but the heads from %s", opts.pretrained_ssd)
    return net, spec


def load_pretrained_ssd(net, path):
    """Load every tensor of a trained SSD except the two head groups (pytorch-ssd semantics)."""
    from ..models.checkpoint import read_state_dict

    state, _ = read_state_dict(path)
    heads = ("classification_headers.", "regression_headers.")
    own = net.state_dict()
    body = {k: v for k, v in state.items() if not k.startswith(heads)}
    wrong = [k for k, v in body.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    missing = [k for k in own if not k.startswith(heads) and k not in body]
    if wrong or missing:
        raise SsdEdgeError("expected a checkpoint of the same net and width for --pretrained-ssd,"
                           " got %s (%d unexpected or mis-shaped keys, %d missing, e.g. %s)"
                           % (path, len(wrong), len(missing), (wrong or missing)[0]))
    net.load_state_dict({k: v.float() for k, v in body.items()}, strict=False)


def param_groups(net, opts):
    """Optimiser groups with pytorch-ssd's per-part learning rates and freeze options."""
    base = list(net.base_net.parameters())
    extras = list(net.extras.parameters()) + list(net.source_layer_add_ons.parameters())
    heads = list(net.classification_headers.parameters()) + \
        list(net.regression_headers.parameters())
    if opts.freeze_net:
        frozen, groups = base + extras, [(heads, opts.lr)]
    elif opts.freeze_base_net:
        frozen = base
        groups = [(extras, opts.extra_layers_lr or opts.lr), (heads, opts.lr)]
    else:
        frozen = []
        groups = [(base, opts.base_net_lr or opts.lr), (extras, opts.extra_layers_lr or opts.lr),
                  (heads, opts.lr)]
    for p in frozen:
        p.requires_grad_(False)
    return [{"params": ps, "lr": lr, "initial_lr": lr} for ps, lr in groups if ps]


def make_optimizer(groups, opts):
    if opts.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=opts.lr, weight_decay=opts.weight_decay)
    return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum,
                           weight_decay=opts.weight_decay)


def lr_factor(epoch, opts):
    """Learning-rate multiplier at fractional ``epoch`` (warm-up × schedule)."""
    warm = min(1.0, (epoch + 1e-9) / opts.warmup_epochs) if opts.warmup_epochs > 0 else 1.0
    if opts.scheduler == "multi-step":
        return warm * opts.gamma ** sum(1 for m in opts.milestones if int(epoch) >= m)
    t_max = opts.t_max or opts.epochs
    return warm * 0.5 * (1.0 + math.cos(math.pi * min(epoch, t_max) / t_max))


def raw_forward(net, images):
    """``(confidences (B, P, C), locations (B, P, 4))`` whatever the module's mode."""
    was = net.training
    if not was:
        net.training = True          # SSD.forward checks only this flag; BN layers stay in eval
        try:
            return net(images)
        finally:
            net.training = False
    return net(images)
