# The Go toolchain is pinned: the machine's own Go may have known
# standard-library vulnerabilities. The go command fetches this version from
# the Go module proxy the first time.
export GOTOOLCHAIN := go1.27.3

GO ?= go
DATA ?= ./uroportal-data

.PHONY: run test build vet bench

## run: serve the portal with synthetic demo data on https://127.0.0.1:8443
run:
	$(GO) run ./cmd/uroportal serve --demo --data $(DATA)

## test: the whole test suite (what .ci/run calls)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## build: a static binary in ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/uroportal ./cmd/uroportal

## bench: micro-benchmarks (figures only; nothing fails on time)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
