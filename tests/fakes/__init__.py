"""Test doubles for what cannot run here: TensorRT (fake_tensorrt) and a CUDA device (fake_cuda)."""


def install_fakes(monkeypatch, version, gpu=None, flavour="bindings"):
    """Install a fake CUDA device and a fake ``tensorrt`` of ``version`` sharing it.

    Returns ``(trt, gpu)``; ``trt.calls`` records what TensorRT received.
    """
    from .fake_cuda import FakeGpu, install_fake_cuda
    from .fake_tensorrt import install_fake_tensorrt
    gpu = gpu if gpu is not None else FakeGpu()
    install_fake_cuda(monkeypatch, gpu, flavour)
    return install_fake_tensorrt(monkeypatch, version, gpu), gpu
