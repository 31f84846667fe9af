"""The process's place in a ``torchrun`` job, and the mixed-precision helpers."""
import contextlib
import hashlib
import os

import torch

from ..errors import SsdEdgeError


class Dist:
    """The process's place in a ``torchrun`` job (a single process when not launched by it)."""

    def __init__(self, device_arg):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and device_arg != "cpu"
        if device_arg not in ("auto", "cpu") and not device_arg.startswith("cuda"):
            raise SsdEdgeError("expected --device auto, cpu, cuda or cuda:N, got %r" % device_arg)
        if device_arg.startswith("cuda") and not torch.cuda.is_available():
            raise SsdEdgeError("expected a CUDA GPU for --device %s, got none visible to torch"
                               % device_arg)
        if cuda:
            index = self.local_rank if self.world > 1 or device_arg in ("auto", "cuda") else \
                int(device_arg.split(":")[1])
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.backend = "nccl" if cuda else "gloo"
        if self.world > 1:
            torch.distributed.init_process_group(backend=self.backend)

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()

    def close(self):
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def gather_checksums(self, net):
        """Every rank's :func:`weights_checksum` (all ranks must agree after DDP steps)."""
        digest = weights_checksum(net)
        if self.world == 1:
            return [digest]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, digest)
        return out


def weights_checksum(net):
    """sha256 (16 hex digits) of the parameters — what DDP keeps identical on every rank (BatchNorm
    running statistics are each rank's own between the broadcasts at the start of a forward)."""
    h = hashlib.sha256()
    for k, v in net.named_parameters():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def autocast(device, amp):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(enabled):
    amp_mod = getattr(torch, "amp", None)
    if amp_mod is not None and hasattr(amp_mod, "GradScaler"):
        try:
            return amp_mod.GradScaler("cuda", enabled=enabled)
        except TypeError:
            pass
    return torch.cuda.amp.GradScaler(enabled=enabled)
