# Fitting mixtures by implicit EM: `make demo` is the main job (fit every kernel to the bundled
# data set, print the table, write the figures into build/demo/); `make test-fit` runs the
# fitting's Python tests (the Swift Fit tests run with everyone's `swift test`).
# matplotlib (figures) and scikit-learn (the reference in the tests) are installed here when
# missing; neither is a run-time dependency of the package.

DEMO_DIR := $(BUILD)/demo
FIT_TEST_FILES := test_mixture.py test_cli.py test_demo.py

.PHONY: demo test-fit
TEST_TARGETS += test-fit

# Install the Python modules named in $(1) that do not import.
define fit_pip_install
	@missing=$$(for module in $(1); do \
	    $(PYTHON) -c "import $$module" 2>/dev/null || printf '%s ' $$module; done); \
	if [ -n "$$missing" ]; then \
	    packages=$$(echo $$missing | sed 's/sklearn/scikit-learn/'); \
	    echo "installing $$packages"; \
	    $(PYTHON) -m pip install --quiet $$packages \
	    || $(PYTHON) -m pip install --quiet --break-system-packages $$packages \
	    || echo "could not install $$packages"; \
	fi
endef

demo: lib
	$(call fit_pip_install,numpy matplotlib)
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) -m implicitem demo --out-dir $(DEMO_DIR)

test-fit: lib
	$(call fit_pip_install,numpy pytest sklearn matplotlib)
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) -m pytest -q \
	    $(addprefix bindings/python/tests/,$(FIT_TEST_FILES))
