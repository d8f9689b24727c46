# PruneKit — build, test, benchmark and demo entry points.
# `make test` and `make demo` install the system libraries they need (Debian/Ubuntu, as root or via sudo).

SWIFT      ?= swift
CONFIG     ?= release
BIN        := .build/$(CONFIG)/prunekit
APT_PKGS   := libopenblas-dev libsqlite3-dev pkg-config
SUDO       := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
DEMO_OUT   ?= demo-out
# Optional: a Python with torch + transformers for the side-by-side `compare` bench section.
PYTHON     ?=
# Bench sections to run (default: all), e.g. SECTIONS="forward ranking".
SECTIONS   ?=

.PHONY: deps build test bench demo clean

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
	PYTHON=$(PYTHON) .build/$(CONFIG)/PruneKitBench $(SECTIONS)

demo: build
	bash Scripts/demo.sh $(BIN) $(DEMO_OUT)

clean:
	rm -rf .build
