# rb — the rollback toolkit. `make demo` shows it working; `make test` proves it.
SHELL   := /bin/bash
PREFIX  ?= /usr/local
CARGO   ?= cargo
BINS    := rb-snapshot rb-restore rb-nginx rb-envfile rb-migrate rb-flag rb-secret rb-deploy rb-emergency
COMPAT  := $(wildcard compat/*.sh compat/*.py)

.PHONY: all build demo test deps bench check fmt clippy doc install uninstall clean

all: build

build:
	$(CARGO) build --workspace --bins --locked

## demo: a sandbox copy of the helpdesk project, snapshot → break → dry run → restore → undo.
demo: build
	RB_BIN_DIR=$(CURDIR)/target/debug scripts/demo.sh

## test: install what the tests need, build the binaries (with the test-only crash points),
## run every test. `make install` never builds the crash points.
TEST_FEATURES := --features rb-common/failpoints
test: deps
	$(CARGO) build --workspace --bins --locked $(TEST_FEATURES)
	RB_BIN_DIR=$(CURDIR)/target/debug $(CARGO) test --workspace --locked $(TEST_FEATURES)

## deps: the programs the tests run for real (installed from Debian when missing).
deps:
	scripts/deps.sh

## bench: rb against cp -a and rsync on the same trees, and peak memory by file count
## (BENCH_SIZES="small medium large memory").
BENCH_SIZES ?= small medium large memory
bench:
	scripts/deps.sh bench
	$(CARGO) build --release --workspace --bins --locked
	python3 scripts/bench.py $(BENCH_SIZES)
	python3 scripts/bench_rollbacks.py

check: fmt clippy doc test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

## install: the release binaries and the compat/ shims into $(PREFIX)/bin.
install:
	$(CARGO) build --release --workspace --bins --locked
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(addprefix target/release/,$(BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(COMPAT) $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(BINS) $(notdir $(COMPAT)))

clean:
	$(CARGO) clean
