# pgswitch — see README.md. Every target works on a fresh Debian 12 machine
# with Go; `make deps` installs the PostgreSQL server and tools it lacks.

GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build test unit integration bench demo lint deps clean soak

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/pgswitch ./cmd/pgswitch

# Test clusters live in TESTTMP: tmpfs when the machine has one, because
# creating a cluster is ~1,000 small files (about 1 s each on disk, 0.2 s
# on tmpfs).
TESTTMP ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo /tmp)

# Unit tests, fuzz seed corpora and the integration suite against real
# PostgreSQL clusters (and network namespaces when run as root).
test: deps
	TMPDIR=$(TESTTMP) $(GO) test -count=1 -timeout 30m ./...

unit:
	$(GO) test -count=1 -short ./internal/... ./sql/...

integration: deps
	TMPDIR=$(TESTTMP) $(GO) test -count=1 -timeout 30m -v ./integration/...

# Throughput and lag beside PostgreSQL's native logical replication, on
# identical clusters in the same run (on tmpfs, like the tests: the primary
# must be able to sustain the 2,000 tps of the lag figure), then the
# write-unavailability window of switchovers.
bench: deps
	TMPDIR=$(TESTTMP) $(GO) run ./integration/bench

# Ten minutes of writes and a switchover every few seconds (make test runs
# the same test for 60 s): nothing lost, never two writers, memory flat.
soak: deps
	SOAK_DURATION=$${SOAK_DURATION:-10m} TMPDIR=$(TESTTMP) $(GO) test -count=1 -timeout 60m -v -run 'TestSoak$$' ./integration/

# Two local clusters, two daemons, a workload, a switchover and back.
demo: deps build
	$(GO) run ./integration/demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

deps:
	@.ci/install-deps

clean:
	rm -rf bin
