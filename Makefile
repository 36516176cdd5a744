# rb — the rollback toolkit. `make demo` shows it working; `make test` proves it.
SHELL   := /bin/bash
PREFIX  ?= /usr/local
CARGO   ?= cargo
BINS    := rb-snapshot rb-restore rb-nginx rb-envfile rb-migrate rb-flag rb-secret rb-deploy rb-emergency
COMPAT  := $(wildcard compat/*.sh compat/*.py)

.PHONY: all build demo test deps bench check fmt clippy doc install install-files uninstall deb deb-files clean

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

## install: the release binaries, the compat/ shims, man pages and bash/zsh/fish completions
## (generated from the tools' clap definitions by rb-gen) under $(PREFIX). `install-files`
## installs from an existing build in $(BIN_DIR) without building.
BIN_DIR ?= target/release
MAN1    := $(DESTDIR)$(PREFIX)/share/man/man1
BASHC   := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHC    := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHC   := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
install:
	$(CARGO) build --release --workspace --bins --locked
	$(MAKE) install-files BIN_DIR=target/release

install-files:
	rm -rf $(BIN_DIR)/gen && $(BIN_DIR)/rb-gen $(BIN_DIR)/gen
	install -d $(DESTDIR)$(PREFIX)/bin $(MAN1) $(BASHC) $(ZSHC) $(FISHC)
	install -m 0755 $(addprefix $(BIN_DIR)/,$(BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(COMPAT) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(BIN_DIR)/gen/man1/*.1 $(MAN1)/
	install -m 0644 $(BIN_DIR)/gen/bash/* $(BASHC)/
	install -m 0644 $(BIN_DIR)/gen/zsh/* $(ZSHC)/
	install -m 0644 $(BIN_DIR)/gen/fish/* $(FISHC)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(BINS) $(notdir $(COMPAT)))
	rm -f $(addprefix $(MAN1)/,$(addsuffix .1,$(BINS))) $(addprefix $(BASHC)/,$(BINS))
	rm -f $(addprefix $(ZSHC)/_,$(BINS)) $(addprefix $(FISHC)/,$(addsuffix .fish,$(BINS)))

## deb: one Debian package, rb, of what `make install` installs (the nine binaries, the compat/
## shims, man pages, bash/zsh/fish completions) and the license files, made by cargo-deb
## (`scripts/deps.sh deb` installs it when missing) into $(DEB_DIR). Its metadata is in
## rb-gen/Cargo.toml. `deb-files` packages an existing release build without building: BIN_DIR
## is the `release` folder of cargo's target folder (CARGO_TARGET_DIR, default target/), which
## is where cargo-deb looks; `DEB_FLAGS=--fast` compresses less.
DEB_DIR   ?= target/debian
DEB_FLAGS ?=
deb:
	CARGO=$(CARGO) scripts/deps.sh deb
	$(CARGO) build --release --workspace --bins --locked
	$(MAKE) deb-files BIN_DIR=target/release

deb-files:
	rm -rf $(BIN_DIR)/deb && $(BIN_DIR)/rb-gen $(BIN_DIR)/deb
	gzip -9n $(BIN_DIR)/deb/man1/*.1
	mkdir -p $(DEB_DIR)
	$(CARGO) deb -p rb-gen --no-build --locked -o $(DEB_DIR) $(DEB_FLAGS)

clean:
	$(CARGO) clean
