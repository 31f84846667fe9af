"""Load and save pytorch-ssd checkpoints (docs/architecture.md §3 "Checkpoints we write").

Loading treats the file as untrusted: ``torch.load(..., weights_only=True)`` only, so a pickle
that would run code is refused before anything in it runs. A checkpoint is the plain state_dict
pytorch-ssd writes; ``labels.txt`` beside it names the classes; ``<checkpoint>.spec.json``, when
present, holds the :class:`DetectorSpec` (activation, resolution, prior levels) the weights
cannot tell. Weights stored in FP16 (``save_checkpoint(..., half=True)``, half the file size)
are cast back to FP32 on loading, so every consumer sees the same float32 state_dict.
"""
import os
import re
import warnings
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ..contract import file_sha256
from ..errors import SsdEdgeError
from ..fileio import atomic_path, atomic_write_text
from ..spec import DetectorSpec
from . import detect, specs
from ..labels import resolve_labels

PathLike = Union[str, "os.PathLike[str]"]
SPEC_SUFFIX = ".spec.json"


def spec_sidecar_path(path: PathLike) -> str:
    """``<checkpoint>.spec.json`` for a checkpoint path."""
    return os.fspath(path) + SPEC_SUFFIX


sidecar_path = spec_sidecar_path   # the name earlier releases used


def read_state_dict(path: PathLike, what: str = "checkpoint",
                    expected: str = "a pytorch-ssd .pth file") -> Tuple[Dict[str, Any], str]:
    """Return ``(state_dict, sha256)`` of a checkpoint file, loaded with ``weights_only=True``.

    Every way the file can be unusable (missing, empty, not a checkpoint, truncated, holding
    code) is one :class:`SsdEdgeError` line; ``what`` and ``expected`` name the file in it.
    """
    import torch

    path = os.fspath(path)
    if not os.path.exists(path):
        raise SsdEdgeError("%s %s not found; expected %s" % (what, path, expected))
    if not os.path.isfile(path):
        raise SsdEdgeError("expected a %s file, got a directory: %s" % (what, path))
    if os.path.getsize(path) == 0:
        raise SsdEdgeError("%s %s is empty (0 bytes); expected %s" % (what, path, expected))
    from ..safety import check_checkpoint_archive
    check_checkpoint_archive(path)      # declared sizes only: nothing is inflated
    sha = file_sha256(path)
    try:
        with warnings.catch_warnings():
            # Old pickle protocols trigger a torch warning that is noise for a user.
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file; all are the user's
        raise _load_error(path, e)
    state = detect.unwrap_state_dict(obj, "%s %s" % (what, path))
    check_weights(state, path)
    # FP16/BF16 storage (save_checkpoint(half=True)) comes back as float32; integer buffers
    # such as num_batches_tracked keep their dtype.
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, sha


# Integer buffers a float network legitimately carries (BatchNorm's step counter).
_INTEGER_BUFFERS = ("num_batches_tracked",)


def check_weights(state: Dict[str, Any], path: PathLike) -> None:
    """Refuse weights a detector cannot run: a non-float dtype where floats belong, NaN or Inf.

    One line naming the first offending tensor and how many it has (a diverged training run
    writes NaN weights, which would otherwise export and then detect nothing)."""
    import torch
    for key, value in state.items():
        if key.rsplit(".", 1)[-1] in _INTEGER_BUFFERS:
            continue
        if not value.is_floating_point():
            raise SsdEdgeError("checkpoint %s: %s has dtype %s; expected floating-point weights "
                               "(float32, float16 or bfloat16)" % (path, key, str(value.dtype)
                                                                    .replace("torch.", "")))
        bad = int((~torch.isfinite(value)).sum())
        if bad:
            raise SsdEdgeError("checkpoint %s: %s holds %d NaN/Inf value(s); expected finite "
                               "weights (a diverged training run? use an earlier checkpoint)"
                               % (path, key, bad))


def _load_error(path: PathLike, err: Exception) -> SsdEdgeError:
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return SsdEdgeError("refused to load %s: unpickling it would call %s, and only tensors "
                            "and plain containers are accepted (weights_only); re-save the "
                            "weights as a plain state_dict from code you trust"
                            % (path, found.group(1)))
    if not _looks_like_checkpoint(path):
        return SsdEdgeError("cannot read %s as a PyTorch checkpoint: expected a zip archive or "
                            "a pickle (what torch.save writes), got neither (%s); pass the .pth "
                            "that training wrote, or an exported .onnx"
                            % (path, _describe_start(path)))
    first = text.strip().splitlines()[0] if text.strip() else ""
    if "Weights only load failed" in first:
        first = "not a pickle of tensors"
    return SsdEdgeError("cannot read %s as a PyTorch checkpoint (truncated or not a .pth file: "
                        "%s: %s)" % (path, type(err).__name__, first[:160]))


def _looks_like_checkpoint(path: PathLike) -> bool:
    """True when the file starts as ``torch.save`` writes: a zip archive or a pickle (0x80)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return True
    return head.startswith(b"PK") or head[:1] == b"\x80"


def _describe_start(path: PathLike) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return "unreadable"
    try:
        text = head.decode("utf-8")
        return "it starts with the text %r" % text.splitlines()[0][:30] if text.strip() \
            else "blank text"
    except UnicodeDecodeError:
        return "it starts with bytes %s" % head[:8].hex()


def load_checkpoint(path: PathLike, labels: Any = None, net: Optional[str] = None,
                    resolution: Optional[int] = None, activation: Optional[str] = None,
                    width_mult: Optional[float] = None) -> Tuple[Any, DetectorSpec]:
    """Load a pytorch-ssd (or ssd-edge) checkpoint.

    Args:
        path: ``.pth`` file: a plain state_dict, or a dict holding it under ``state_dict``/
            ``model``/``net``; a ``module.`` prefix is stripped.
        labels: labels.txt path or list of names, BACKGROUND first; default: the spec sidecar's,
            else ``class1..classN`` with a warning.
        net: arch name; default: recognised from the keys.
        resolution: input size: an int N (N×N; UltraFace nets: N × 3N/4), ``"WxH"`` or an
            ``(H, W)`` pair; default: the sidecar's, else the net's table size (300×300;
            UltraFace 320×240 — its weights do not say which size they were trained at).
        activation: mb2-ssd-lite backbone activation; default: the sidecar's, else ``"relu6"``
            (the published checkpoint); ``"relu"`` for pytorch-ssd's ONNX-friendly variant.
        width_mult: mb2-ssd-lite width; default: the sidecar's, else read from the shapes.
    Returns:
        ``(model in eval mode on the CPU, DetectorSpec with source_sha256 set)``.
    """
    state, sha = read_state_dict(path)
    side = _read_sidecar(path, sha)
    arch = detect.detect_arch(state, net)
    if side is not None and side.arch != arch:
        raise SsdEdgeError("%s describes a %s but the weights are a %s; delete or rewrite the "
                           "sidecar" % (spec_sidecar_path(path), side.arch, arch))
    num_classes = detect.num_classes_of(state)
    if width_mult is None:
        width_mult = side.width_mult if side else detect.width_mult_of(arch, state)
    if activation is None and side is not None:
        activation = side.activation
    assumed = activation is None and specs.ACTIVATION_CHOICES.get(arch) is not None
    if assumed:
        act = specs.ACTIVATION_CHOICES[arch][0]
        warnings.warn("%s: the checkpoint does not say which activation %s was trained with; "
                      "assuming %s (as pytorch-ssd trains it); pass --activation relu (Python: "
                      "activation=\"relu\") if it used ReLU" % (path, arch, act, ),
                      UserWarning, stacklevel=2)
    names = resolve_labels(labels, num_classes, side.labels if side else None)
    spec = _make_spec(arch, names, resolution, activation, width_mult, side)
    spec = spec.replace(source_sha256=sha, activation_assumed=assumed)
    return _build_loaded(state, spec), spec


def _read_sidecar(path: PathLike, sha: str) -> Optional[DetectorSpec]:
    side_path = spec_sidecar_path(path)
    if not os.path.isfile(side_path):
        return None
    side = DetectorSpec.load(side_path)
    if side.source_sha256 and side.source_sha256 != sha:
        warnings.warn("%s was written for another file (sha256 %s…, this one %s…); using it "
                      "anyway — its architecture is checked against the weights"
                      % (side_path, side.source_sha256[:12], sha[:12]), UserWarning, stacklevel=3)
    return side


def _make_spec(arch: str, labels: Any, resolution: Optional[int], activation: Optional[str],
               width_mult: Optional[float], side: Optional[DetectorSpec]) -> DetectorSpec:
    """The sidecar's spec when it describes this net at this size, else a zoo spec."""
    if resolution is None:
        size = side.input_size if side else specs.table_size(arch)
    else:
        size = specs.parse_resolution(resolution, arch)
    act = specs.resolve_activation(arch, activation)
    wm = specs.resolve_width_mult(arch, width_mult)
    if (side is not None and side.arch == arch and side.input_size == size
            and side.activation == act and side.width_mult == wm):
        return side.replace(labels=tuple(labels))
    from .zoo import build_spec
    return build_spec(arch, labels, size, act, wm)


def _build_loaded(state: Dict[str, Any], spec: DetectorSpec) -> Any:
    """Build ``spec``'s net and load ``state`` into it, reporting the first shape that differs."""
    from .zoo import build_model

    want = [lv.boxes_per_location for lv in spec.prior_levels]
    got = detect.head_anchors(state)
    if got != want:
        raise SsdEdgeError("checkpoint heads predict %s boxes per location but the spec's prior "
                           "levels give %s; pass the matching net/spec" % (got, want))
    model = build_model(spec)
    expected = model.state_dict()
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise SsdEdgeError("checkpoint %s has shape %s but %s (width %g) expects %s; pass the "
                               "right net/width_mult" % (key, tuple(value.shape), spec.arch,
                                                         spec.width_mult,
                                                         tuple(expected[key].shape)))
    model.load_state_dict(state, strict=True)
    return model.eval()


def _base_net_layout(arch: str) -> Tuple[Callable[..., Any], str]:
    """``(key mapping, description)`` of the pretrained backbone file ``arch`` takes."""
    if arch == "resnet50-ssd":
        from .resnet import torchvision_to_base_net
        return torchvision_to_base_net, ("a torchvision-layout ResNet-50 state_dict (conv1.*, "
                                         "bn1.*, layer1-3.*; fc.* and layer4.* unused)")
    # pytorch-ssd's base-net files (vgg16_reducedfc.pth, mobilenet_v1_with_relu_69_5.pth,
    # mb2-imagenet-71_8.pth) hold exactly base_net's keys, as its init_from_base_net loads them.
    return dict, "pytorch-ssd's base-net layout for %s (base_net's keys, no prefix)" % arch


def load_base_net(net: Any, path: PathLike, arch: Optional[str] = None) -> Any:
    """Load pretrained backbone weights into ``net.base_net`` (``ssd-train --base-net``).

    Args:
        net: a zoo SSD (:func:`ssd_edge.models.build_model`); only ``base_net`` changes.
        path: resnet50-ssd: a torchvision-layout ResNet-50 state_dict (docs/models.md); the
            pytorch-ssd nets: pytorch-ssd's base-net file. Read with ``weights_only=True``.
        arch: the net's zoo name; default: recognised from its keys.
    Returns the number of tensors loaded. Raises :class:`SsdEdgeError` (one line, expected vs
    got) when keys are missing or left over or a shape differs; ``net`` is then unchanged.
    """
    state, _ = read_state_dict(path, "base-net file", "a backbone state_dict")
    arch = detect.detect_arch(net.state_dict(), arch)
    mapping, layout = _base_net_layout(arch)
    state = mapping(state)
    want = net.base_net.state_dict()
    # BatchNorm counters are absent from files saved before PyTorch 0.4.1; torch fills them.
    missing = [k for k in want if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in want]
    if missing or extra:
        raise SsdEdgeError("base-net file %s does not fit %s: expected %s, got %d keys missing "
                           "(first %r) and %d unexpected (first %r)"
                           % (path, arch, layout, len(missing), missing[0] if missing else None,
                              len(extra), extra[0] if extra else None))
    for key, value in state.items():
        if tuple(value.shape) != tuple(want[key].shape):
            raise SsdEdgeError("base-net file %s does not fit %s: expected %s of shape %s, got %s"
                               % (path, arch, key, tuple(want[key].shape), tuple(value.shape)))
    loaded = len(state)
    net.base_net.load_state_dict(state, strict=False)
    return loaded


def torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to ``path``, a full disk or read-only folder raised as the ``OSError`` it is
    (torch's own writer reports it as "unexpected pos" in a RuntimeError)."""
    import torch
    try:
        with open(path, "wb") as f:
            torch.save(obj, f)
    except RuntimeError as e:
        cause = e.__context__ or e.__cause__
        if isinstance(cause, OSError):
            raise cause
        raise


def save_checkpoint(model: Any, spec: DetectorSpec, path: PathLike, half: bool = False) -> Any:
    """Write ``model``'s plain state_dict to ``path`` (what pytorch-ssd loads), ``labels.txt``
    beside it (BACKGROUND first) and ``<path>.spec.json`` (the spec, with the file's sha256).

    ``half=True`` stores the floating-point tensors in FP16 (half the size: how the bundled
    model ships); :func:`load_checkpoint` and pytorch-ssd's ``load_state_dict`` cast them back
    into the FP32 net. Every file is written atomically. Returns the spec as written to the
    sidecar.
    """
    path = os.fspath(path)
    if getattr(model, "num_classes", spec.num_classes) != spec.num_classes:
        raise SsdEdgeError("model has %d classes but the spec lists %d labels"
                           % (model.num_classes, spec.num_classes))
    # CPU tensors, detached, in the module's key order: loads anywhere, as pytorch-ssd's files.
    state = type(model.state_dict())(
        (k, v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items())
    with atomic_path(path) as tmp:
        torch_save(state, tmp)
        sha = file_sha256(tmp)
    folder = os.path.dirname(os.path.abspath(path))
    atomic_write_text(os.path.join(folder, "labels.txt"), "\n".join(spec.labels) + "\n")
    written = spec.replace(source_sha256=sha)
    written.save(spec_sidecar_path(path))
    return written
