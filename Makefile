# idp-push: `make demo` pushes an image to a local registry; `make test` runs every test.
# Both install what they need (Debian packages, the pinned cbindgen) on first use.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:/usr/local/go/bin:$(PATH)

CBINDGEN_VERSION := 0.29.4
export CBINDGEN_VERSION
# From `rustc --print native-static-libs` for this target (see bindings/go/README.md).
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
export NATIVE_LIBS

LIB := target/release/libidp_push.a
HEADER := include/idp_push.h

.PHONY: all deps build lib header header-check test e2e demo bench go-build go-test clean
all: build

deps:
	@scripts/deps.sh

lib:
	cargo build --release --quiet

$(LIB): lib

bin/push-c: examples/c/push.c $(HEADER) lib
	@mkdir -p bin
	cc -std=c11 -Wall -Wextra -Werror -O2 -Iinclude examples/c/push.c $(LIB) $(NATIVE_LIBS) -o $@

build: deps lib bin/push-c go-build

# Regenerate the C header from src/ffi with the pinned cbindgen.
header: deps
	cbindgen --quiet --config cbindgen.toml --output $(HEADER)

# Fails when the checked-in header is not what cbindgen generates from the source now.
header-check: deps
	@tmp=$$(mktemp); cbindgen --quiet --config cbindgen.toml --output $$tmp; \
	if ! cmp -s $$tmp $(HEADER); then \
	  diff -u $(HEADER) $$tmp | head -40; rm -f $$tmp; \
	  echo "$(HEADER) is stale: run 'make header' and commit it" >&2; exit 1; \
	fi; rm -f $$tmp; echo "$(HEADER) is up to date"

test: build
	scripts/test.sh

# IDPBuilder's registry end to end: a real Gitea (built once, cached in ~/.cache/idp-push) behind
# nginx, pushed to with bin/idpbuilder and checked with skopeo. Part of `make test`.
e2e: build
	scripts/e2e.sh

demo: build
	@scripts/demo.sh

# Side-by-side benchmark against skopeo, crane, oras and curl; writes BENCHMARKS.md.
bench: build
	bench/run.sh

# The Go example links target/release/libidp_push.a through cgo (see bindings/go/README.md).
GO := GOTOOLCHAIN=local go
go-build: lib
	@mkdir -p bin
	$(GO) -C examples/idpbuilder build -o ../../bin/idpbuilder .

# gofmt, go vet, unit tests (interface mocks) with the race detector, then the integration
# tests against the registry and Buildah that scripts/test.sh provides.
go-test:
	@bad=$$(gofmt -l bindings/go examples/idpbuilder); \
	if [ -n "$$bad" ]; then echo "gofmt needed: $$bad" >&2; exit 1; fi
	cd bindings/go && $(GO) vet ./... && $(GO) vet -tags integration ./...
	cd examples/idpbuilder && $(GO) vet ./...
	cd bindings/go && $(GO) test -race -count=1 ./...
	cd bindings/go && IDP_TEST_IDPBUILDER=$(CURDIR)/bin/idpbuilder $(GO) test -race -count=1 -tags integration ./...

clean:
	cargo clean
	rm -rf bin
