# The Python binding (bindings/python): `make test-python` runs its pytest suite against the
# library built by `make lib`. Test-only dependencies are installed here when missing, never
# declared as run-time dependencies of the package (numpy is its only one).

PYTHON_TEST_MODULES := numpy scipy pytest hypothesis

.PHONY: test-python
TEST_TARGETS += test-python

# The fitting's tests (FIT_TEST_FILES) run in test-fit, which installs their extra dependencies.
test-python: lib
	@missing=$$(for module in $(PYTHON_TEST_MODULES); do \
	    $(PYTHON) -c "import $$module" 2>/dev/null || printf '%s ' $$module; done); \
	if [ -n "$$missing" ]; then \
	    echo "test-python: installing $$missing"; \
	    $(PYTHON) -m pip install --quiet $$missing \
	    || $(PYTHON) -m pip install --quiet --break-system-packages $$missing; \
	fi
	$(PYTHON) -m pytest -q bindings/python/tests $(addprefix --ignore=bindings/python/tests/,$(FIT_TEST_FILES))
