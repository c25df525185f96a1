# wsgate — build, run, test. `make run` and `make test` work on a fresh Debian
# box as root: they install what they need (Go modules, Debian packages, npm).

GO          ?= go
BIN         := bin
NPM_DIRS    := gateway/testdata
APT_PKGS    := chromium kcat haproxy testssl.sh pushpin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN_DIR   := $(shell $(GO) env GOPATH)/bin

.PHONY: all build run run-cluster test test-deps lint fmt-check vet bench bench-compare bench-1m soak fuzz clean tls-audit

all: build

build:
	$(GO) build -o $(BIN)/wsgate ./cmd/wsgate
	$(GO) build -o $(BIN)/wsgate-bench ./bench/cmd/wsgate-bench

# The gateway with its embedded default: chat page at http://localhost:8080/,
# broadcast topic at ws://localhost:8080/ws, admin on 127.0.0.1:9090.
run: build
	./$(BIN)/wsgate -access-log stdout $(ARGS)

# Cross-node broadcast on one machine: a Kafka-protocol dev broker (cmd/kafkadev = franz-go's kfake,
# not Apache Kafka; deploy/compose.yaml has the real thing) and 3 wsgate nodes on loopback.
# Chat pages: http://127.0.0.1:8081/ .. :8083/ (one conversation across nodes). Publish API:
#   curl -H 'Authorization: Bearer dev' -d hi http://127.0.0.1:9191/v1/publish/chat
# Any producer: kcat -P -b 127.0.0.1:9092 -t wsgate.broadcast -k chat -X topic.partitioner=murmur2_random
# Ctrl-C stops all four. KAFKA_ADDR and ARGS (extra wsgate flags) can be overridden.
KAFKA_ADDR ?= 127.0.0.1:9092
run-cluster: build
	$(GO) build -o $(BIN)/kafkadev ./cmd/kafkadev
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	./$(BIN)/kafkadev -listen $(KAFKA_ADDR) -partitions 10 & \
	for n in $$(seq 50); do (exec 3<>/dev/tcp/$${KAFKA_ADDR%:*}/$${KAFKA_ADDR##*:}) 2>/dev/null && break; sleep 0.1; done; \
	for i in 1 2 3; do \
		./$(BIN)/wsgate -listen 127.0.0.1:808$$i -admin-listen 127.0.0.1:919$$i -node-id node$$i \
			-kafka-brokers $(KAFKA_ADDR) -publish-token dev $(ARGS) & \
	done; \
	echo "run-cluster: chat on http://127.0.0.1:8081/ :8082/ :8083/, admin 127.0.0.1:9191-9193, kafka $(KAFKA_ADDR); Ctrl-C stops"; \
	wait

# Debian packages and Node peers the end-to-end tests drive (installed once).
test-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@for d in $(NPM_DIRS); do \
		if [ ! -f $$d/node_modules/.npm-ci-stamp ] || [ $$d/package-lock.json -nt $$d/node_modules/.npm-ci-stamp ]; then \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) && touch $$d/node_modules/.npm-ci-stamp || exit 1; \
		fi; \
	done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint: fmt-check vet
	@test -x $(GOBIN_DIR)/staticcheck || $(GO) install $(STATICCHECK)
	$(GOBIN_DIR)/staticcheck ./...
	GOOS=darwin $(GO) build ./...
	GOOS=freebsd $(GO) build ./...

test: test-deps lint
	$(GO) test -count=1 -timeout 15m ./...

# Benchmarks: not in CI (shared, noisy machines); figures go to bench/README.md.
bench: build
	bash bench/run.sh

# wsgate vs HAProxy (Debian) in front of the same Node echo backends, plain and TLS, one run
# (COMPARE_TLS_ONLY=1: the TLS part alone).
bench-compare: build
	bash bench/compare.sh

# Many wsgate nodes on one port (SO_REUSEPORT) joined by the Kafka bus, many
# generators: ramps to TARGET (default 1000000), holds, broadcasts, reports.
bench-1m: build
	bash bench/million.sh

# Soak (not in CI): 3 wsgate nodes on the Kafka bus x 18k connections with broadcast
# traffic for DURATION; RSS and goroutines flat within 5 %? Writes bench/results/<date>-soak.*
DURATION ?= 30m
soak: build
	DURATION=$(DURATION) bash bench/soak.sh

# testssl.sh's full scan of the TLS listener (make test runs it scoped to protocols, ciphers and
# vulnerabilities): fails on any finding rated HIGH or CRITICAL; takes ~3 minutes.
tls-audit: test-deps
	WSGATE_TLS_AUDIT=full $(GO) test -count=1 -timeout 10m -run TestTLSAuditTestssl -v ./gateway/

# Fuzz the codec's parsers (the committed corpus also runs in `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzParseRequestHead -fuzztime=$(FUZZTIME) ./codec/
	$(GO) test -run=NONE -fuzz=FuzzParserNext -fuzztime=$(FUZZTIME) ./codec/
	$(GO) test -run=NONE -fuzz=FuzzParseResponseHead -fuzztime=$(FUZZTIME) ./codec/
	$(GO) test -run=NONE -fuzz=FuzzChunkedScanner -fuzztime=$(FUZZTIME) ./codec/

clean:
	rm -rf $(BIN)
