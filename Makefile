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

.PHONY: deps build test bench demo kd-demo clean fuzz fuzz-build fuzz-smoke sanitize sanitize-address sanitize-thread

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

# The PostgreSQL tests run against a throwaway cluster (Scripts/test-postgres.sh: installs Debian's postgresql
# when missing, serves on 127.0.0.1, removed afterwards even when tests fail); PRUNEKIT_REQUIRE_POSTGRES=1 makes
# a PostgreSQL test that cannot reach it fail instead of skipping.
test: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	@pgdir=$$(mktemp -d /tmp/prunekit-pg.XXXXXX) || exit 1; \
	trap 'bash Scripts/test-postgres.sh stop "$$pgdir"' EXIT; \
	url=$$(bash Scripts/test-postgres.sh start "$$pgdir") || exit 1; \
	echo "PostgreSQL test cluster on 127.0.0.1:$$(cat "$$pgdir/port") in $$pgdir"; \
	PRUNEKIT_TEST_POSTGRES_URL="$$url" PRUNEKIT_TEST_POSTGRES_DIR="$$pgdir" PRUNEKIT_REQUIRE_POSTGRES=1 \
	  $(SWIFT) test -c $(CONFIG) --skip-build --disable-swift-testing
	$(MAKE) fuzz-smoke

# Coverage-guided fuzzing (libFuzzer + AddressSanitizer, from the Swift toolchain's compiler-rt) of every
# parser: a separate package in Tests/Fuzz, so its flags never reach the normal build. See Tests/Fuzz/README.md.
# `make fuzz` runs each target FUZZ_SECONDS (one at a time); FUZZ_TARGETS picks some. New corpus entries and
# crash inputs go to Tests/Fuzz/.build/work (not committed); the seeds are Tests/Fuzz/Corpus/<target>.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_TARGETS       ?= FuzzJSON FuzzSafetensorsHeader FuzzShardIndex FuzzConfig FuzzTokenizer FuzzCalibration FuzzRecipe
FUZZ_DIR           := Tests/Fuzz
FUZZ_WORK          := $(FUZZ_DIR)/.build/work
FUZZ_CONFIG        ?= release
FUZZ_FLAGS         ?= -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 -detect_leaks=0

fuzz-build: deps
	$(SWIFT) build -c $(FUZZ_CONFIG) --package-path $(FUZZ_DIR) -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t $(FUZZ_WORK)/crashes; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 $(FUZZ_DIR)/.build/$(FUZZ_CONFIG)/$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
	    -artifact_prefix=$(FUZZ_WORK)/crashes/$$t- $(FUZZ_WORK)/corpus/$$t $(FUZZ_DIR)/Corpus/$$t; \
	done

# CI: every committed corpus input replayed, then a few seconds of fuzzing per target (a debug build: it
# compiles faster, and a smoke needs no speed).
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) FUZZ_CONFIG=debug

# The test suite under AddressSanitizer and ThreadSanitizer (debug builds in their own scratch folders; the
# tests that run the prunekit tool run the sanitized one beside them). Leak checking is off: LeakSanitizer
# cannot follow Swift's multi-payload enums (JSONValue, the tokenizer stages), whose payload pointers carry
# the case in spare bits, nor Foundation's and XCTest's own caches, so it reports hundreds of false leaks.
sanitize: sanitize-address sanitize-thread

sanitize-address: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan --disable-swift-testing

sanitize-thread: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --disable-swift-testing

bench: build
	PYTHON=$(PYTHON) .build/$(CONFIG)/PruneKitBench $(SECTIONS)

demo: build
	bash Scripts/demo.sh $(BIN) $(DEMO_OUT)

# Distillation of the demo's candidates (needs a Python with torch + transformers: PYTHON=/path/to/python).
PYTHON     ?= python3
kd-demo: build
	PYTHON=$(PYTHON) bash Scripts/kd/kd_demo.sh $(BIN) $(DEMO_OUT)/kd

clean:
	rm -rf .build
