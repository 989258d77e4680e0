# ticketd build and test targets. `make test` needs nothing but Go.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS    := ./...

.PHONY: all build test lint vet fmt-check staticcheck fuzz bench bench-micro bench-macro cover demo e2e clean check release release-test

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/ticketd ./cmd/ticketd

test:
	$(GO) test -race -shuffle=on -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

lint: vet fmt-check staticcheck

# Each fuzz target runs for FUZZTIME. A count ("20000x") rather than a
# duration: with a duration, Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" at the deadline although it found nothing
# (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 20000x
fuzz:
	@$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(PKGS) | while read pkg dir; do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Every figure of issue 13: the micro benchmarks, then the macro ones (the
# load tool against real Dovecot and Postfix, root, set up as for e2e).
# LOAD_FLAGS sizes the macro part (e.g. "-n 1000 -runs 1 -store 100000").
bench: bench-micro bench-macro

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

bench-macro:
	GO=$(GO) ./e2e/bench.sh $(LOAD_FLAGS)

cover:
	$(GO) test -cover $(PKGS)

# The whole procedure on an embedded mail system, nothing to install (Ctrl-C ends it).
demo: build
	./bin/ticketd demo

check: lint test

# End to end: real ticketd against a private Dovecot and Postfix on loopback
# (root, Debian 12; installs the packages if missing). See e2e/README.md.
e2e:
	GO=$(GO) ./e2e/run.sh

# Release artefacts under dist/: static binaries for linux/amd64 and arm64, a
# .deb for each (made by tools/release with nFPM) and SHA256SUMS. The version
# is `git describe --tags`; tags are vX.Y.Z (see CHANGELOG.md).
release:
	$(GO) -C tools/release run . -root $(CURDIR) -out $(CURDIR)/dist -version $(VERSION)

# The release tool's own tests, then dist/'s amd64 .deb installed into a clean
# Debian chroot (debootstrap, root; the base system is cached under
# /var/cache/ticketd-release) where the daemon is started as the ticketd user.
release-test: release
	$(GO) -C tools/release vet ./...
	$(GO) -C tools/release test -count=1 ./...
	$(GO) test -tags release -count=1 -v -run . ./deploy

clean:
	rm -rf bin dist
