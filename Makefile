# Two commands matter: `make demo` and `make test`. Both create .venv if it is
# missing and (re)install when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-16)

.PHONY: demo test lint typecheck pytest install browser softhsm oidc-provider clean mutation

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway

typecheck: $(STAMP)
	$(BIN)/mypy gateway

# The console tests drive Debian's Chromium; Playwright cannot download browsers here.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: /usr/bin/chromium missing; browser tests will be skipped (failed under CI=true)"; }

# The PKCS#11 tests sign with SoftHSM2 tokens they create under a temporary directory.
softhsm:
	@command -v softhsm2-util >/dev/null || { command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null) \
	  || echo "warning: softhsm2 missing; PKCS#11 tests will be skipped (failed under CI=true)"; }

# The console's SSO tests run a real OpenID Connect provider (panva's oidc-provider, tests/support/oidc/) on node.
OIDC_DIR := tests/support/oidc
oidc-provider:
	@test -d $(OIDC_DIR)/node_modules/oidc-provider || { command -v npm >/dev/null && \
	  (cd $(OIDC_DIR) && npm ci --no-audit --no-fund --silent) \
	  || echo "warning: $(OIDC_DIR)/node_modules missing (npm ci failed or node absent); SSO tests will be skipped (failed under CI=true)"; }

pytest: $(STAMP) browser softhsm oidc-provider
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Mutation testing of gateway/trust/ against tests/trust (not part of `make test`: ~1.5 h on 2 shared cores).
# mutmut, not cosmic-ray: mutmut records which tests cover each function and runs only those per mutant,
# where cosmic-ray runs the whole tests/trust suite (30 s) for every one of ~1800 mutants. It is installed
# here, not in [test], so `make test` does not pay for it; configured in pyproject.toml [tool.mutmut].
# `make mutation` starts afresh (rm -rf mutants); MUTANTS="gateway.trust.path*" re-runs those mutants only
# (mutmut always re-runs named ones). tests/mutation/report.py prints the per-module table and fails under
# MUTATION_TARGET % of non-equivalent mutants killed; tests/mutation/equivalent.txt lists the equivalents.
# Its pytest sessions keep their tmp_path directories under mutants/pytest-tmp, apart from other pytest runs
# on the machine (pytest rotates the pytest-N directories of its temp root): a test that fails for a reason
# other than the mutant counts the mutant as killed. A survivor judged equivalent is re-run by name to confirm.
# Results, the per-module table and the run-by-run commands: tests/mutation/README.md.
MUTMUT_VERSION := 3.8.1
MUTATION_JOBS ?= 2
MUTATION_TARGET ?= 95
MUTANTS ?=

mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet mutmut==$(MUTMUT_VERSION)
	$(if $(MUTANTS),,rm -rf mutants)
	mkdir -p mutants/pytest-tmp
	PYTEST_DEBUG_TEMPROOT=$(CURDIR)/mutants/pytest-tmp $(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS)
	$(BIN)/python tests/mutation/report.py --fail-under $(MUTATION_TARGET)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis mutants $(OIDC_DIR)/node_modules
