# `make test` works in a fresh clone with nothing pre-installed: it creates .venv, installs the
# CPU build of PyTorch when no torch is present (an unpinned torch pulls several GB of CUDA),
# installs ssd-edge with its dev extra, and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=

# trackers (--track) declares the GUI opencv-python; installed without its dependency list so
# opencv-python-headless stays the only cv2 (its real dependencies come from the track/dev extra).
TRACKERS ?= trackers==2.6.1 supervision==0.31.2

.PHONY: venv test test-quick demo clean track system-deps

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_CPU)"
	$(PY) -m pip install -q -e ".[dev]"
	$(MAKE) --no-print-directory track
	touch $@

venv: $(VENV)/.installed

# Skipped (with a note) on Python < 3.10, where --track says it cannot run.
track:
	@if $(PY) -c "import sys; sys.exit(sys.version_info < (3, 10))"; then \
		$(PY) -m pip install -q -e ".[track]" && $(PY) -m pip install -q --no-deps $(TRACKERS); \
	else echo "trackers needs Python >= 3.10: --track unavailable in this venv"; fi

# GStreamer's RTSP server and its Python bindings for `--output rtsp://` (Debian packages;
# installed where apt-get runs as root, e.g. CI; skipped elsewhere, and its tests skip).
system-deps:
	@sh .ci/system-deps

test: venv system-deps
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-quick: venv
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# `make demo` installs only what the demo needs (CPU torch when absent, the export and cv extras,
# not dev), then exports the bundled model to FP32 and INT8 ONNX and runs ssd-live on the bundled
# clip into demo-output/ (ssd_edge/demo.py; DEMO_ARGS="--output-dir DIR" to change it).
DEMO_ARGS ?=

$(VENV)/.demo-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_CPU)"
	$(PY) -m pip install -q -e ".[export,cv,openvino]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m ssd_edge.demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
