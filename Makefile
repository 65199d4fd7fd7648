# Longer reliability runs that stay out of CI (CI runs the bounded versions in
# tests/security and tests/faults).
#   make fuzz            hypothesis with many more examples, then atheris per target
#   make soak            10-minute steady load with policies on (bench/soak.py)
#   make soak-record     the same, appending the table to bench/RESULTS.md
#   make security-tests  the CI part of the security and fault suites

PYTHON ?= python3
FUZZ_EXAMPLES ?= 5000
FUZZ_SECONDS ?= 300
SOAK_MINUTES ?= 10
FUZZ_DIR ?= /tmp/kubegate-fuzz

.PHONY: fuzz fuzz-hypothesis fuzz-atheris soak soak-record security-tests

fuzz: fuzz-hypothesis fuzz-atheris

fuzz-hypothesis:
	KUBEGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/security/test_fuzz_inputs.py

# atheris may not be installable (it needs a wheel for this Python or clang):
# fuzz_atheris.py then prints a message and exits 0. Crash inputs go to $(FUZZ_DIR)/.
fuzz-atheris:
	@mkdir -p $(FUZZ_DIR)
	@status=0; for target in yaml xml expression; do \
		echo "== atheris: $$target ($(FUZZ_SECONDS)s)"; \
		$(PYTHON) tests/security/fuzz_atheris.py $$target -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=$(FUZZ_DIR)/$$target- || status=1; \
	done; exit $$status

soak:
	$(PYTHON) -m bench.soak --minutes $(SOAK_MINUTES)

soak-record:
	$(PYTHON) -m bench.soak --minutes $(SOAK_MINUTES) --record

security-tests:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/security tests/faults
