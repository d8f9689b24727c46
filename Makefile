# PruneKit — build, test, benchmark and demo entry points.
# `make test` and `make demo` install the system libraries they need (Debian/Ubuntu, as root or via sudo).

SWIFT      ?= swift
CONFIG     ?= release
BIN        := .build/$(CONFIG)/prunekit
APT_PKGS   := libopenblas-dev libsqlite3-dev pkg-config
SUDO       := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
DEMO_OUT   ?= demo-out

.PHONY: deps build test bench demo kd-demo clean

deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG)

test: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build --disable-swift-testing

bench: build
	.build/$(CONFIG)/PruneKitBench

demo: build
	bash Scripts/demo.sh $(BIN) $(DEMO_OUT)

# Distillation of the demo's candidates (needs a Python with torch + transformers: PYTHON=/path/to/python).
PYTHON     ?= python3
kd-demo: build
	PYTHON=$(PYTHON) bash Scripts/kd/kd_demo.sh $(BIN) $(DEMO_OUT)/kd

clean:
	rm -rf .build
