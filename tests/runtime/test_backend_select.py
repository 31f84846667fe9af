"""backend="auto": choice by artifact, precision and hardware, with fake cpuinfo and packages."""
import pytest

from tinymodels import tiny_spec
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.artifact import Artifact
from ssd_edge.runtime.backends import BACKENDS, KINDS, PACKAGES, backend_names, is_installed
from ssd_edge.runtime.backends.select import Hardware, choose_backend, cpu_flags, probe_hardware
from ssd_edge.runtime.onnxinfo import OnnxInfo

X86_NO_VNNI = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2
"""
X86_VNNI = X86_NO_VNNI.replace("bmi2", "bmi2 avx512f avx512_vnni")
X86_AVX_VNNI = X86_NO_VNNI.replace("bmi2", "bmi2 avx_vnni")
ARM_DOTPROD = """processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
"""
ARM_A57 = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
"""
ALL = frozenset(BACKENDS)


def art(kind="onnx", precision="fp32", ops=("Conv",)):
    info = OnnxInfo({}, (), (), frozenset(ops), 7) if kind == "onnx" else None
    return Artifact("/m/model." + kind, kind, tiny_spec(), precision, info)


def hw(cpuinfo=X86_VNNI, gpu=False, installed=ALL):
    return Hardware(cpu_flags(cpuinfo), gpu, frozenset(installed), "x86_64")


def test_cpu_flags_parsing():
    assert {"avx2", "fma"} <= cpu_flags(X86_NO_VNNI)
    assert not hw(X86_NO_VNNI).int8_dot
    assert hw(X86_VNNI).int8_dot and hw(X86_AVX_VNNI).int8_dot
    assert hw(ARM_DOTPROD).int8_dot and not hw(ARM_A57).int8_dot
    assert cpu_flags("") == frozenset()


@pytest.mark.parametrize("kind,name", [("engine", "trt"), ("pth", "torch"), ("ort", "ort")])
def test_file_kind_decides(kind, name):
    assert choose_backend(art(kind), hw(gpu=True))[0] == name
    assert choose_backend(art(kind), hw(installed=()))[0] == name   # then fails naming the extra


def test_tensorrt_and_gpu_win_for_onnx():
    name, reason = choose_backend(art(), hw(gpu=True))
    assert name == "trt" and "GPU" in reason
    assert choose_backend(art(), hw(gpu=False))[0] == "ort"
    assert choose_backend(art(), hw(gpu=True, installed=ALL - {"trt"}))[0] == "ort"


def test_trt_plugin_graph_needs_trt():
    name, reason = choose_backend(art(ops=("Conv", "EfficientNMS_TRT")), hw())
    assert name == "trt" and "EfficientNMS_TRT" in reason


@pytest.mark.parametrize("cpuinfo,dot", [(X86_NO_VNNI, "without"), (X86_VNNI, "with"),
                                         (X86_AVX_VNNI, "with"), (ARM_A57, "without"),
                                         (ARM_DOTPROD, "with")])
def test_int8_on_a_cpu_goes_to_openvino(cpuinfo, dot):
    name, reason = choose_backend(art(precision="int8"), hw(cpuinfo))
    assert name == "openvino" and "%s VNNI" % dot in reason
    # FP32 never takes the INT8 detour
    assert choose_backend(art(precision="fp32"), hw(cpuinfo))[0] == "ort"


def test_int8_without_vnni_and_without_openvino_uses_ort():
    name, reason = choose_backend(art(precision="int8"), hw(X86_NO_VNNI, installed={"ort"}))
    assert name == "ort" and "OpenVINO" in reason and 'ssd-edge[openvino]' in reason


X86_BF16 = X86_VNNI.replace("avx512_vnni", "avx512_vnni avx512_bf16")
ARM_BF16 = ARM_DOTPROD.replace("asimddp", "asimddp bf16")


@pytest.mark.parametrize("cpuinfo,how", [(X86_BF16, "in bf16"), (ARM_BF16, "in bf16"),
                                         (X86_VNNI, "in f32"), (X86_NO_VNNI, "in f32")])
def test_fp16_on_a_cpu_goes_to_openvino(cpuinfo, how):
    name, reason = choose_backend(art(precision="fp16"), hw(cpuinfo))
    assert name == "openvino" and how in reason and "FP16" in reason
    # without OpenVINO: ONNX Runtime, and the reason names the extra that would be faster
    name, reason = choose_backend(art(precision="fp16"), hw(cpuinfo, installed={"ort"}))
    assert name == "ort" and 'ssd-edge[openvino]' in reason
    # TensorRT on a GPU still comes first
    assert choose_backend(art(precision="fp16"), hw(cpuinfo, gpu=True))[0] == "trt"


def test_bf16_flags():
    assert hw(X86_BF16).bf16 and hw(ARM_BF16).bf16
    assert not hw(X86_VNNI).bf16 and not hw(ARM_A57).bf16


@pytest.mark.parametrize("installed,want", [({"openvino", "opencv"}, "openvino"),
                                            ({"opencv"}, "opencv"),
                                            ({"opencv", "torch"}, "opencv")])
def test_cpu_fallback_order(installed, want):
    name, reason = choose_backend(art(), hw(installed=installed))
    assert name == want and "ONNX Runtime is not installed" in reason


def test_nothing_installed_names_the_extras():
    with pytest.raises(SsdEdgeError, match=r'pip install "ssd-edge\[ort\]"'):
        choose_backend(art(), hw(installed={"torch"}))


def test_probe_hardware_reads_files(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text(X86_NO_VNNI)
    h = probe_hardware(str(p))
    assert "avx2" in h.cpu_flags and not h.int8_dot
    assert h.installed <= ALL
    for name in ALL:    # installed means its package can be found; nothing is imported
        assert (name in h.installed) == is_installed(name)
    if not is_installed("ort"):
        pytest.skip("onnxruntime is not installed here")
    assert "ort" in h.installed
    assert probe_hardware(str(tmp_path / "absent")).cpu_flags == frozenset()


@pytest.mark.parametrize("kind,want", [("tflite", "litert"), ("ncnn", "ncnn")])
def test_mobile_files_go_to_their_own_runtime_even_with_a_gpu(kind, want):
    name, reason = choose_backend(art(kind), hw(gpu=True))
    assert name == want and reason


def test_mobile_kinds_are_read_from_the_file_name():
    from ssd_edge.runtime.artifact import artifact_kind
    assert artifact_kind("a/model.int8.tflite") == "tflite"
    assert artifact_kind("a/model.fp16.ncnn.param") == "ncnn"
    with pytest.raises(SsdEdgeError, match=r"\.tflite or \.ncnn\.param"):
        artifact_kind("model.bin")


def test_registry_is_plain_data():
    assert backend_names() == list(BACKENDS)
    assert set(BACKENDS) == set(PACKAGES) == set(KINDS) == {"ort", "trt", "opencv", "openvino",
                                                             "torch", "triton", "litert", "ncnn"}
    assert BACKENDS["trt"] == "ssd_edge.runtime.backends.trt:TrtBackend"
    for target in BACKENDS.values():
        module, _, cls = target.partition(":")
        assert module.startswith("ssd_edge.runtime.backends.") and cls


def test_registry_record_rejects_a_malformed_entry():
    from ssd_edge.runtime.backends.registry import BackendRecord
    with pytest.raises(ValueError, match="module:Class"):
        BackendRecord("x", "no_colon", "pkg", "extra", ("onnx",))
    with pytest.raises(ValueError, match="artifact kinds"):
        BackendRecord("x", "m:C", "pkg", "extra", ())


def test_cli_backend_choices_come_from_the_registry():
    from ssd_edge.cli.common import BACKEND_CHOICES
    assert BACKEND_CHOICES == ("auto",) + tuple(BACKENDS)


def test_a_new_cpu_record_joins_auto_without_other_edits(monkeypatch):
    from ssd_edge.runtime.backends import registry, select
    extra = registry.BackendRecord("fake", "m:C", "fakepkg", "fake", ("onnx",), cpu_auto=True)
    monkeypatch.setattr(select, "RECORDS", registry.RECORDS + (extra,))
    name, _ = choose_backend(art(), hw(installed={"fake"}))
    assert name == "fake"


def test_owns_frame_path_is_an_explicit_capability():
    from ssd_edge.runtime.backends import owns_frame_path

    class Plain:
        def detect_batch(self, frames, options):
            return []

    class Owner(Plain):
        owns_frame_path = True

    assert not owns_frame_path(Plain()) and owns_frame_path(Owner())
