"""A stand-in for the bundled model: a real mb2-ssd-lite (ReLU) checkpoint with random weights,
saved as the bundled one is (FP16 storage, spec sidecar, labels.txt), in a temporary assets
folder that ``SSD_EDGE_ASSETS`` points the lookup at. Tests never write into the package.
"""
import os

from ssd_edge.runtime.assets import ASSETS_ENV, BUNDLED_MODEL

LABELS = ("BACKGROUND", "circle", "square", "triangle", "star")


def make_assets(folder, resolution=96, width_mult=0.25, clip_frames=0, seed=0):
    """Write the stand-in model (and, with ``clip_frames``, a short ``demo.mp4``) into ``folder``.

    Small on purpose (96 px, width 0.25: 312 priors) so every test runs it in milliseconds.
    Returns the checkpoint path.
    """
    import torch
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    spec = build_spec("mb2-ssd-lite", LABELS, resolution, "relu", width_mult)
    torch.manual_seed(seed)
    model = build_model(spec)
    # PyTorch's default init shrinks the signal layer by layer, so a deep random net answers
    # the same on every image; He init at gain 1.2 (of sqrt(2)) keeps the scores image-dependent
    # while staying well-conditioned (FP32 within ~4e-7 of FP64), so that ONNX Runtime and
    # PyTorch rank detections alike. Larger gains are chaotic (1e-4 at sqrt(2)).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(1.2 / 2 ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    path = os.path.join(folder, BUNDLED_MODEL)
    save_checkpoint(model, spec, path, half=True)
    if clip_frames:
        from ssd_edge.data import generate_video
        generate_video(os.path.join(folder, "demo.mp4"), clip_frames, seed=1, size=(160, 120),
                       fps=10, n_objects=3)
    return path


def use_assets(monkeypatch, folder):
    """Point the bundled-model and demo-clip lookup at ``folder`` for one test."""
    monkeypatch.setenv(ASSETS_ENV, str(folder))
