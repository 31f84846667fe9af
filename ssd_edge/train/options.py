"""The ``ssd-train`` command line: pytorch-ssd's (dusty-nv fork) flags, hyphenated, plus ours.

Underscored spellings (``--batch_size``) are accepted too, so existing pytorch-ssd scripts run
unchanged. Parsing gives a frozen :class:`TrainOptions`.
"""
import argparse
import math
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import SsdEdgeError
from ..models.specs import ARCHS

SPLITS = {"voc": ("trainval", "test"), "open_images": ("train", "test"),
          "coco": ("train2017", "val2017")}


@dataclass(frozen=True)
class TrainOptions:
    """Everything one training run needs (see ``ssd-train --help`` for each field)."""
    datasets: Tuple[str, ...]
    dataset_type: Optional[str] = None
    validation_dataset: Optional[str] = None
    train_split: Optional[str] = None
    val_split: Optional[str] = None
    classes: Optional[Tuple[str, ...]] = None
    keep_difficult: bool = False
    net: str = "mb1-ssd"
    resolution: Optional[str] = None      # N or WxH; None: the net's own (300; UltraFace 320x240)
    activation: Optional[str] = None
    width_mult: float = 1.0
    base_net: Optional[str] = None
    pretrained_ssd: Optional[str] = None
    resume: Optional[str] = None
    freeze_base_net: bool = False
    freeze_net: bool = False
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    base_net_lr: Optional[float] = None
    extra_layers_lr: Optional[float] = None
    scheduler: str = "cosine"
    milestones: Tuple[int, ...] = (80, 100)
    gamma: float = 0.1
    t_max: Optional[float] = None
    warmup_epochs: float = 0.0
    batch_size: int = 4
    epochs: int = 30
    max_iters: Optional[int] = None
    workers: int = 2
    validation_epochs: int = 1
    val_metric: str = "voc07"
    val_map: bool = True
    debug_steps: int = 10
    model_dir: str = "models"
    seed: int = 0
    device: str = "auto"
    threads: Optional[int] = None
    amp: bool = False
    sync_bn: bool = False
    progress: Optional[bool] = None
    zoom_out: float = 4.0

    def splits(self, dataset_type):
        train, val = SPLITS[dataset_type]
        return self.train_split or train, self.val_split or val


def build_parser():
    p = argparse.ArgumentParser(
        prog="ssd-train",
        description="Train an SSD / SSD-Lite detector (pytorch-ssd compatible checkpoints). "
                    "Multi-GPU or multi-node: torchrun --nproc-per-node N -m ssd_edge.train ...",
        epilog="Checkpoints are plain state_dicts named {net}-Epoch-{e}-Loss-{val_loss}.pth with "
               "labels.txt beside them (pytorch-ssd and ssd-export load them); "
               "train-state.pt holds what --resume needs to continue a run.")
    a = p.add_argument
    g = p.add_argument_group("data")
    g.add_argument("--datasets", "--data", nargs="+", required=True, metavar="DIR",
                   help="dataset folder(s) (VOC, Open Images csv, COCO); several are concatenated")
    g.add_argument("--dataset-type", choices=sorted(SPLITS), default=None,
                   help="layout of the datasets (default: detected)")
    g.add_argument("--validation-dataset", metavar="DIR", default=None,
                   help="validation folder (default: the first dataset's evaluation split)")
    g.add_argument("--train-split", default=None,
                   help="training split (default voc trainval, open_images train, coco train2017)")
    g.add_argument("--val-split", default=None,
                   help="validation split (default voc test, open_images test, coco val2017)")
    g.add_argument("--classes", default=None, metavar="A,B,C",
                   help="train on these classes only, in this order (images without any are "
                        "skipped)")
    g.add_argument("--keep-difficult", action="store_true",
                   help="train on VOC objects marked difficult (pytorch-ssd drops them)")
    g.add_argument("--workers", "-j", type=int, default=2, help="data loader processes (2)")
    g = p.add_argument_group("model")
    g.add_argument("--net", default="mb1-ssd", choices=ARCHS, help="network (mb1-ssd)")
    g.add_argument("--resolution", help="input size N or WxH (default: the net's own, 300; "
                   "UltraFace nets 320x240, N meaning N x 3N/4)")
    g.add_argument("--activation", default=None, choices=("relu", "relu6", "hswish"),
                   help="activation where the net has a choice (mb2-ssd-lite: relu6 default; "
                        "relu is the ONNX/TensorRT-friendly variant)")
    g.add_argument("--width-mult", "--mb2-width-mult", type=float, default=1.0,
                   help="width multiplier of the MobileNet backbones (1.0)")
    g.add_argument("--base-net", metavar="PTH", help="backbone weights to start from "
                   "(pytorch-ssd base-net files; torchvision-layout ResNet-50 for resnet50-ssd)")
    g.add_argument("--pretrained-ssd", metavar="PTH",
                   help="a trained SSD of the same net: everything but the heads is loaded "
                        "(transfer learning to new classes)")
    g.add_argument("--resume", metavar="PTH",
                   help="train-state.pt to continue a run (or a checkpoint to start from its "
                        "weights)")
    g.add_argument("--freeze-base-net", action="store_true", help="do not train the backbone")
    g.add_argument("--freeze-net", action="store_true",
                   help="train only the prediction heads")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="(sgd)")
    g.add_argument("--lr", "--learning-rate", type=float, default=0.01, help="learning rate (0.01)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (0.9)")
    g.add_argument("--weight-decay", type=float, default=5e-4, help="weight decay (5e-4)")
    g.add_argument("--base-net-lr", type=float, default=None, help="backbone lr (default --lr)")
    g.add_argument("--extra-layers-lr", type=float, default=None,
                   help="extra layers' lr (default --lr)")
    g.add_argument("--scheduler", choices=("cosine", "multi-step"), default="cosine",
                   help="learning-rate schedule (cosine)")
    g.add_argument("--milestones", default="80,100",
                   help="multi-step: epochs at which the lr is multiplied by --gamma (80,100)")
    g.add_argument("--gamma", type=float, default=0.1, help="multi-step factor (0.1)")
    g.add_argument("--t-max", type=float, default=None,
                   help="cosine: period in epochs (default --epochs)")
    g.add_argument("--warmup-epochs", type=float, default=0.0,
                   help="linear lr warm-up, in epochs (0)")
    g.add_argument("--batch-size", "-b", type=int, default=4, help="images per step per "
                   "process (4)")
    g.add_argument("--epochs", "--num-epochs", type=int, default=30, help="epochs (30)")
    g.add_argument("--max-iters", type=int, default=None,
                   help="stop after this many steps (smoke tests)")
    g.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    g.add_argument("--sync-bn", action="store_true",
                   help="synchronise BatchNorm statistics across processes (DDP)")
    g.add_argument("--zoom-out", type=float, default=4.0,
                   help="largest zoom-out ratio of the augmentation (4; 1 disables it)")
    g = p.add_argument_group("validation and output")
    g.add_argument("--validation-epochs", type=int, default=1,
                   help="validate and checkpoint every N epochs (1)")
    g.add_argument("--val-metric", choices=("voc07", "voc12", "coco"), default="voc07",
                   help="validation mAP metric (voc07)")
    g.add_argument("--no-val-map", dest="val_map", action="store_false",
                   help="validation loss only")
    g.add_argument("--debug-steps", type=int, default=10, help="log every N steps (10)")
    g.add_argument("--model-dir", "--checkpoint-folder", default="models",
                   help="where checkpoints and labels.txt go (models/)")
    g.add_argument("--seed", type=int, default=0, help="seed (0)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    g.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads per process for the network (default: PyTorch's own)")
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bars even when stderr is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def _underscores(argv):
    """Accept pytorch-ssd's ``--batch_size`` spellings."""
    out = []
    for a in argv:
        if a.startswith("--"):
            flag, eq, value = a.partition("=")
            a = flag.replace("_", "-") + eq + value
        out.append(a)
    return out


def parse_options(argv=None):
    """``argv`` → :class:`TrainOptions`; raises :class:`SsdEdgeError` on bad values."""
    import sys
    args = build_parser().parse_args(_underscores(list(sys.argv[1:] if argv is None else argv)))
    try:
        milestones = tuple(int(m) for m in str(args.milestones).split(",") if m.strip())
    except ValueError:
        raise SsdEdgeError("expected --milestones as comma-separated epochs like 80,100, got %r"
                           % args.milestones)
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) \
        if args.classes else None
    if args.threads is not None and args.threads < 1:
        raise SsdEdgeError("expected --threads N with N >= 1, got %d" % args.threads)
    for name, value, lo in (("--batch-size", args.batch_size, 1), ("--epochs", args.epochs, 1),
                            ("--workers", args.workers, 0),
                            ("--validation-epochs", args.validation_epochs, 1)):
        if value < lo:
            raise SsdEdgeError("expected %s >= %d, got %d" % (name, lo, value))
    if args.resolution is not None:
        from ..models.specs import check_arch, parse_resolution
        size = parse_resolution(args.resolution, check_arch(args.net))
        if min(size) < 32:
            raise SsdEdgeError("expected --resolution >= 32 pixels per side, got %s"
                               % args.resolution)
    for flag in ("width_mult", "lr", "momentum", "weight_decay", "base_net_lr", "extra_layers_lr",
                 "gamma", "t_max", "warmup_epochs", "zoom_out"):
        value = getattr(args, flag, None)
        if value is not None and not math.isfinite(value):
            raise SsdEdgeError("expected a finite number for --%s, got %s"
                               % (flag.replace("_", "-"), value))
    for flag in ("lr", "base_net_lr", "extra_layers_lr"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            raise SsdEdgeError("expected --%s > 0, got %g" % (flag.replace("_", "-"), value))
    if args.amp and args.device == "cpu":
        raise SsdEdgeError("expected a CUDA device for --amp, got --device cpu")
    fields = dict(vars(args))
    fields.update(datasets=tuple(args.datasets), classes=classes, milestones=milestones)
    return TrainOptions(**fields)
