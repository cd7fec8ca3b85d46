# Benchmark against NumPy, JAX, PyTorch and scikit-learn (bench/README.md).
# `make bench` is not part of `make test`: it installs its peers into a virtual
# environment under build/ once, then reuses it. `make bench-quick` uses small sizes.

BENCH_DIR    := $(BUILD)/bench
BENCH_VENV   := $(BUILD)/bench-venv
BENCH_PY     := $(BENCH_VENV)/bin/python
BENCH_CC     ?= cc
BENCH_CFLAGS := -O3 -march=native -std=gnu11 -Wall
# Old OpenBLAS workarounds slow a current NumPy: unset them for the benchmark process only.
BENCH_ENV    := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=$(CURDIR)/bindings/python \
                IMPLICITEM_LIBRARY=$(CURDIR)/$(BUILD)/lib/libimplicitem.so
BENCH_TORCH_TIMEOUT ?= 2400

.PHONY: bench bench-quick bench-venv bench-selftest

# The table's AVX2 column times the same library with IMPLICITEM_CPU=avx2 (bench/run.py), so it
# shows both code paths of the shipped build where the CPU has AVX-512.

$(BENCH_VENV)/.base-installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet numpy scipy scikit-learn "jax[cpu]" threadpoolctl
	touch $@

# PyPI's torch wheel pulls several GB of CUDA libraries; when it cannot be installed
# the benchmark runs without it and says so.
$(BENCH_VENV)/.torch-tried: $(BENCH_VENV)/.base-installed
	-timeout $(BENCH_TORCH_TIMEOUT) $(BENCH_PY) -m pip install --quiet torch \
	  || echo "torch could not be installed (pip failed or took over $(BENCH_TORCH_TIMEOUT) s)" > $(BENCH_VENV)/.torch-failed
	touch $@

bench-venv: $(BENCH_VENV)/.base-installed $(BENCH_VENV)/.torch-tried

$(BENCH_DIR)/floor: bench/floor.c | $(BENCH_DIR)/.dir
	$(BENCH_CC) $(BENCH_CFLAGS) -ffast-math -fopenmp-simd -o $@ $< -lm -lpthread

$(BENCH_DIR)/w5: bench/w5.c include/implicitem.h | lib $(BENCH_DIR)/.dir
	$(BENCH_CC) $(BENCH_CFLAGS) -Iinclude -o $@ $< -L$(BUILD)/lib -limplicitem -Wl,-rpath,$(CURDIR)/$(BUILD)/lib

$(BENCH_DIR)/.dir:
	mkdir -p $(BENCH_DIR)
	touch $@

bench: lib bench-venv $(BENCH_DIR)/floor $(BENCH_DIR)/w5
	$(BENCH_ENV) $(BENCH_PY) bench/run.py --build $(BUILD) --json $(BENCH_DIR)/results.json

bench-quick: lib bench-venv $(BENCH_DIR)/floor $(BENCH_DIR)/w5
	$(BENCH_ENV) $(BENCH_PY) bench/run.py --quick --build $(BUILD) --json $(BENCH_DIR)/results-quick.json

# The peers checked against KERNELS.md written out plainly and finite differences (no library needed).
bench-selftest: bench-venv
	$(BENCH_ENV) $(BENCH_PY) bench/selftest.py
