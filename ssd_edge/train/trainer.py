"""The training loop behind ``ssd-train`` (data in :mod:`.data`, the net, its optimiser and
schedule in :mod:`.model`, the process group in :mod:`.dist`).

One process trains on one device; under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every
process joins a process group (NCCL on GPUs, gloo on CPUs), wraps the net in
DistributedDataParallel and reads its share of the data through a ``DistributedSampler``; rank 0
alone logs, validates and writes checkpoints, the others wait at a barrier. Multi-node runs are
``torchrun --nnodes ... --rdzv-endpoint ...`` of the same command — PyTorch's own launcher.

Per epoch: the learning rate follows the schedule per step (linear warm-up, then cosine or
multi-step, computed from the step so a resumed run continues the same curve); every
``--validation-epochs`` rank 0 computes the validation loss (no augmentation) and the mAP, writes
``{net}-Epoch-{e}-Loss-{val_loss}.pth`` (a plain state_dict, what pytorch-ssd loads) with
``labels.txt`` and ``.spec.json`` beside it, and ``train-state.pt`` (weights, optimiser, scaler,
epoch — everything ``--resume`` needs; loadable with ``weights_only=True``).
"""
import json
import logging
import math
import os
import sys
import time

import numpy as np
import torch

from ..errors import SsdEdgeError
from ..fileio import atomic_path, disk_errors
from .augment import EvalTransform, TrainTransform
from .data import TrainSet, open_datasets
from .dist import Dist, autocast, grad_scaler
from .loss import MultiBoxLoss
from .model import build_net, lr_factor, make_optimizer, param_groups, raw_forward
from .targets import PriorMatcher

LOG = logging.getLogger("ssd_edge.train")
STATE_FILE = "train-state.pt"


# ---- validation ---------------------------------------------------------------------------

class ModelDetector:
    """A torch net in memory behind the ``detect(image_bgr) -> Detections`` contract (what the
    runtime does for a ``.pth``: the same pre-processing and ``ssd_edge.postprocess``)."""

    def __init__(self, net, spec, device, conf_threshold=0.01):
        from ..preprocess import Preprocessor
        self.net, self.spec, self.device = net, spec, device
        self.pre = Preprocessor(spec)
        self.conf_threshold = conf_threshold

    def __call__(self, image):
        from ..nms import postprocess
        x = torch.from_numpy(self.pre([image])).to(self.device)
        with torch.no_grad():
            scores, boxes = self.net(x)
        return postprocess(scores[0].float().cpu().numpy(), boxes[0].float().cpu().numpy(),
                           frame_size=(image.shape[1], image.shape[0]),
                           conf_threshold=self.conf_threshold,
                           iou_threshold=self.spec.nms.iou_threshold,
                           candidate_size=self.spec.nms.candidate_size, labels=self.spec.labels)


def validation_loss(net, loader, criterion, device, amp):
    net.train(False)
    # The heads' raw outputs: the net returns them only in training mode, so flip it without
    # touching BatchNorm statistics (eval-mode BN, train-mode output format).
    total, n = 0.0, 0
    with torch.no_grad():
        for images, locs, labels in loader:
            images, locs, labels = images.to(device), locs.to(device), labels.to(device)
            with autocast(device, amp):
                conf, loc = raw_forward(net, images)
            reg, cls = criterion(conf, loc, labels, locs)
            total += float(reg + cls) * len(images)
            n += len(images)
    return total / max(n, 1)


# ---- checkpoints --------------------------------------------------------------------------

def checkpoint_name(net_name, epoch, val_loss):
    return "%s-Epoch-%d-Loss-%s.pth" % (net_name, epoch, val_loss)


def save_train_state(path, net, optimizer, scaler, epoch, step, spec, best):
    state = {"model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
             "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "epoch": int(epoch), "step": int(step), "spec": spec.to_json(),
             "best_loss": float(best)}
    from ..models.checkpoint import torch_save
    with atomic_path(path) as tmp:
        torch_save(state, tmp)


def load_resume(path, net, optimizer, scaler):
    """Return ``(start epoch, step, best loss)``; a plain checkpoint only gives weights."""
    from ..models.checkpoint import read_state_dict

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:           # not a train state: read it as a checkpoint (clear errors)
        obj = None
    if isinstance(obj, dict) and "optimizer" in obj and "model" in obj:
        net.load_state_dict(obj["model"])
        optimizer.load_state_dict(obj["optimizer"])
        if obj.get("scaler"):
            scaler.load_state_dict(obj["scaler"])
        LOG.info("resuming %s after epoch %d", path, obj["epoch"])
        return int(obj["epoch"]) + 1, int(obj["step"]), float(obj.get("best_loss", math.inf))
    state, _ = read_state_dict(path)
    own = net.state_dict()
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise SsdEdgeError("expected --resume to be train-state.pt or a checkpoint of this %s "
                           "with these classes, got %s (e.g. %s differs)"
                           % (net.__class__.__name__, path, bad[0]))
    net.load_state_dict({k: v.float() for k, v in state.items()})
    LOG.info("starting from the weights of %s", path)
    return 0, 0, math.inf


# ---- the run ------------------------------------------------------------------------------

def _progress(iterable, enabled, total, desc):
    if enabled:
        try:
            from tqdm import tqdm
            return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
        except ImportError:
            pass
    return iterable


def train(opts, evaluate=None):
    """Run training as ``opts`` says; returns a summary dict (rank 0: checkpoints, mAP...).

    ``evaluate(detector, dataset, metric, progress=False) -> {"map", "per_class"}`` scores the
    validation set when ``opts.val_map`` is set (``ssd-train`` passes
    :func:`ssd_edge.eval.runner.evaluate_detector`; training never imports the tools).
    """
    if opts.val_map and evaluate is None:
        raise SsdEdgeError("expected an evaluate function for the validation mAP (val_map), got "
                           "none; pass evaluate=ssd_edge.eval.runner.evaluate_detector")
    dist = Dist(opts.device)
    try:
        return _train(opts, dist, evaluate)
    finally:
        dist.close()


def _train(opts, dist, evaluate=None):
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed)
    log = LOG.info if dist.main else LOG.debug
    train_sets, val_set, names = open_datasets(opts)
    net, spec = build_net(opts, names)
    if dist.main:
        with disk_errors(opts.model_dir):
            os.makedirs(opts.model_dir, exist_ok=True)
            probe = os.path.join(opts.model_dir, ".ssd-train-write-test")
            with open(probe, "wb") as f:        # read-only or full: say so before training
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
            os.unlink(probe)
        if not os.access(opts.model_dir, os.W_OK):
            raise SsdEdgeError("expected a writable --model-dir, got %s" % opts.model_dir)
    device = dist.device
    if opts.amp and device.type != "cuda":
        raise SsdEdgeError("expected a CUDA GPU for --amp, got device %s" % device)
    matcher = PriorMatcher(spec.priors(), spec.center_variance, spec.size_variance)
    data = TrainSet(train_sets, TrainTransform(spec, opts.zoom_out), matcher, opts.seed,
                    opts.keep_difficult)
    val_data = TrainSet([val_set], EvalTransform(spec), matcher, opts.seed, opts.keep_difficult)
    if dist.world > 1:
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(data, dist.world, dist.rank, shuffle=True, seed=opts.seed)
    else:
        sampler = None
    gen = torch.Generator()
    gen.manual_seed(opts.seed)
    loader = torch.utils.data.DataLoader(
        data, batch_size=opts.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=opts.workers, drop_last=len(data) >= opts.batch_size * dist.world,
        pin_memory=device.type == "cuda", generator=gen,
        persistent_workers=False)
    val_loader = torch.utils.data.DataLoader(val_data, batch_size=opts.batch_size,
                                             num_workers=opts.workers)
    groups = param_groups(net, opts)
    net.to(device)
    if opts.sync_bn and dist.world > 1:
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    optimizer = make_optimizer(groups, opts)
    scaler = grad_scaler(opts.amp and device.type == "cuda")
    start, step, best = 0, 0, math.inf
    if opts.resume:
        start, step, best = load_resume(opts.resume, net, optimizer, scaler)
    model = net
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = MultiBoxLoss()
    show = opts.progress if opts.progress is not None else sys.stderr.isatty()
    show = show and dist.main
    steps_per_epoch = max(len(loader), 1)
    log("training %s (%s, %d classes, %d priors) on %s: %d images, %d validation images, "
        "batch %d x %d process(es), %d steps/epoch", opts.net, spec.activation,
        spec.num_classes - 1, len(matcher.priors), device, len(data), len(val_set),
        opts.batch_size, dist.world, steps_per_epoch)
    summary = {"net": opts.net, "checkpoints": [], "epochs": [], "world_size": dist.world}
    stop = False
    for epoch in range(start, opts.epochs):
        data.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        t0, seen, run_reg, run_cls, n_run = time.perf_counter(), 0, 0.0, 0.0, 0
        for i, (images, locs, labels) in enumerate(_progress(loader, show, steps_per_epoch,
                                                             "epoch %d" % epoch)):
            factor = lr_factor(epoch + i / steps_per_epoch, opts)
            for g in optimizer.param_groups:
                g["lr"] = g["initial_lr"] * factor
            images = images.to(device, non_blocking=True)
            locs = locs.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with autocast(device, opts.amp):
                conf, loc = model(images)
            reg, cls = criterion(conf, loc, labels, locs)
            loss = reg + cls
            if not torch.isfinite(loss):
                raise SsdEdgeError("expected a finite loss, got %s at epoch %d step %d; lower --lr"
                                   % (float(loss), epoch, i))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            seen += len(images)
            run_reg += float(reg.detach())
            run_cls += float(cls.detach())
            n_run += 1
            if opts.debug_steps and (i + 1) % opts.debug_steps == 0:
                log("epoch %d step %d/%d: loss %.4f (regression %.4f, classification %.4f), "
                    "lr %.5f", epoch, i + 1, steps_per_epoch, (run_reg + run_cls) / n_run,
                    run_reg / n_run, run_cls / n_run, opts.lr * factor)
                run_reg = run_cls = 0.0
                n_run = 0
            if opts.max_iters is not None and step >= opts.max_iters:
                stop = True
                break
        seconds = time.perf_counter() - t0
        rate = seen * dist.world / max(seconds, 1e-9)
        record = {"epoch": epoch, "seconds": round(seconds, 1), "images_per_second": round(rate, 1)}
        log("epoch %d: %d images in %.1f s (%.1f images/s over %d process(es))", epoch,
            seen * dist.world, seconds, rate, dist.world)
        last = epoch == opts.epochs - 1 or stop
        if (epoch + 1) % opts.validation_epochs == 0 or last:
            if dist.main:
                record.update(_validate(net, spec, opts, val_loader, val_set, criterion, device, evaluate,
                                        epoch, summary, log))
                best = min(best, record["val_loss"])
                save_train_state(os.path.join(opts.model_dir, STATE_FILE), net, optimizer,
                                 scaler, epoch, step, spec, best)
            dist.barrier()
        summary["epochs"].append(record)
        if stop:
            break
    sums = dist.gather_checksums(net)
    summary["weights_checksums"] = sums
    if len(set(sums)) != 1:
        raise RuntimeError("DDP ranks disagree on the weights: %s" % sums)
    if dist.world > 1:
        log("all %d ranks agree on the weights (sha256 %s)", dist.world, sums[0])
    if dist.main:
        with atomic_path(os.path.join(opts.model_dir, "train-summary.json")) as tmp:
            with open(tmp, "w") as f:
                json.dump(summary, f, indent=1)
    return summary


def _validate(net, spec, opts, val_loader, val_set, criterion, device, evaluate, epoch, summary,
              log):
    from ..models.checkpoint import save_checkpoint

    out = {"val_loss": validation_loss(net, val_loader, criterion, device, opts.amp)}
    if not math.isfinite(out["val_loss"]):
        # a diverged net is never written as a checkpoint (``...-Loss-nan.pth``)
        raise SsdEdgeError("expected a finite validation loss, got %s at epoch %d; nothing written "
                           "for this epoch; lower --lr or resume from the last checkpoint"
                           % (out["val_loss"], epoch))
    net.eval()
    if opts.val_map:
        result = evaluate(ModelDetector(net, spec, device), val_set, opts.val_metric,
                                   progress=False)
        out["map"] = float(result["map"])
        out["per_class"] = {k: float(v) for k, v in result["per_class"].items()}
    path = os.path.join(opts.model_dir, checkpoint_name(opts.net, epoch, out["val_loss"]))
    save_checkpoint(net, spec, path)
    summary["checkpoints"].append(path)
    summary["last_checkpoint"] = path
    log("epoch %d: validation loss %.4f%s -> %s", epoch, out["val_loss"],
        ", %s mAP %.4f" % (opts.val_metric, out["map"]) if "map" in out else "", path)
    net.train()
    return out
