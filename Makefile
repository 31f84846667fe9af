# `make test` works in a fresh clone with nothing pre-installed: it creates .venv, installs the
# CPU build of PyTorch when no torch is present (an unpinned torch pulls several GB of CUDA),
# installs ssd-edge with its dev and mobile extras, and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
# PyTorch's CPU-only wheels; tried first with a short timeout and no retries (pip's configured
# default may be minutes), then the default index (which, off Linux x86-64 CPU wheels, may pull CUDA).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX_TIMEOUT ?= 10
PYTEST_ARGS ?=

# trackers (--track) declares the GUI opencv-python; installed without its dependency list so
# opencv-python-headless stays the only cv2 (its real dependencies come from the track/dev extra).
TRACKERS ?= trackers==2.6.1 supervision==0.31.2

.PHONY: venv torch triton-env track system-deps test test-quick demo clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(MAKE) --no-print-directory torch
	$(PY) -m pip install -q -e ".[dev,mobile]"
	$(MAKE) --no-print-directory track
	touch $@

venv: $(VENV)/.installed

# Installs $(TORCH_CPU) into $(PY) only where no torch is importable (a Jetson keeps JetPack's
# build, a CUDA desktop the one it already has).
torch:
	@$(PY) -c "import torch" 2>/dev/null \
	|| $(PY) -m pip install -q --index-url $(TORCH_INDEX) --timeout $(TORCH_INDEX_TIMEOUT) --retries 0 "$(TORCH_CPU)" \
	|| (echo "PyTorch CPU index unreachable; installing $(TORCH_CPU) from the default index" \
	    && $(PY) -m pip install -q "$(TORCH_CPU)")

# The Triton tests' server (nvidia-pytriton's tritonserver) runs with its own Python environment,
# .venv-triton (numpy < 2, ONNX Runtime, OpenCV; pip only). Built here once so the parallel test
# workers find it ready; where it cannot be built the Triton tests skip with the reason.
triton-env: venv
	-$(PY) tests/serving/tritonserver.py

# Skipped (with a note) on Python < 3.10, where --track says it cannot run.
track:
	@if $(PY) -c "import sys; sys.exit(sys.version_info < (3, 10))"; then \
		$(PY) -m pip install -q -e ".[track]" && $(PY) -m pip install -q --no-deps $(TRACKERS); \
	else echo "trackers needs Python >= 3.10: --track unavailable in this venv"; fi

# GStreamer's RTSP server and its Python bindings for `--output rtsp://` (Debian packages;
# installed where apt-get runs as root, e.g. CI; skipped elsewhere, and its tests skip).
system-deps:
	@sh .ci/system-deps

test: venv system-deps triton-env
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-quick: venv
	$(PY) -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

# `make demo` installs only what the demo needs (CPU torch when absent, the export and cv extras,
# not dev), then exports the bundled model to FP32 and INT8 ONNX and runs ssd-live on the bundled
# clip into demo-output/ (ssd_edge/demo.py; DEMO_ARGS="--output-dir DIR" to change it).
DEMO_ARGS ?=

$(VENV)/.demo-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(MAKE) --no-print-directory torch
	$(PY) -m pip install -q -e ".[export,cv,openvino]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m ssd_edge.demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .venv-triton .venv-triton.lock build *.egg-info .pytest_cache
