# Chorus: `make run` starts a server with the sample apps; `make test` runs
# every test (installing what the tests need first); `make bench` prints the
# benchmark figures.

GO       ?= go
BIN      := bin/chorus
DATA     ?= ./chorus-data
HTTP     ?= 127.0.0.1:8080

# Packages tested under the race detector: the concurrent core, the engine
# and the API included (`make unit` takes about 1.5 min on 2 cores).
RACE_PKGS := ./channels ./channels/thread/... ./channels/web/... ./channels/channeltest/... \
	./channels/sip/flood/... ./channels/sip/sipcheck/... ./channels/sip/tts/... ./runtime/verbs/... ./runtime/luamod/... ./runtime/applog/... ./store/... ./apps/... \
	./runtime/engine/... ./api/...
# Integration packages, without -race. First, one at a time, the packages
# whose limits are wall-clock: the hostile scripts (CPU and memory limits the
# race detector would distort) and the SIP channel (RTP measured against its
# 20 ms slots, against sipp and sipsak). Then the other real servers and
# subprocesses: the XMPP channel against Prosody, the SMS channel against
# the npm SMSC, the binary.
TIMED_PKGS := ./runtime/sandbox/... ./channels/sip
INTEG_PKGS := ./channels/sms/... ./channels/xmpp/... ./cmd/...

.PHONY: all build run test test-deps unit integration bench vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/chorus

run: build
	$(BIN) serve --data $(DATA) --http $(HTTP)

test-deps:
	@scripts/test-deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)

integration: build
	$(GO) test -count=1 -p 1 -timeout 10m $(TIMED_PKGS)
	CHORUS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m $(INTEG_PKGS)

test: test-deps vet unit integration

bench: build
	CHORUS_BIN=$(CURDIR)/$(BIN) $(GO) run ./bench

clean:
	rm -rf bin
