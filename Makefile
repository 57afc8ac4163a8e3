# roomstate: the two commands of the README, and their parts.

GO ?= go
FUZZTIME ?= 10s

.PHONY: demo test lint unit race fuzz build guard bench compare

# Start the demo: a synthetic city of about 1 M dwellings, served with the dashboard.
demo: web/node_modules/maplibre-gl/dist/maplibre-gl.mjs
	$(GO) run ./cmd/roomstate demo

# MapLibre GL JS for the dashboard, from npm with the lockfile.
web/node_modules/maplibre-gl/dist/maplibre-gl.mjs: web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	@touch $@

# Run every test CI runs (the dashboard's browser test needs chromium: see .ci/run).
test: web/node_modules/maplibre-gl/dist/maplibre-gl.mjs lint race unit fuzz guard

build:
	$(GO) build -o bin/roomstate ./cmd/roomstate

# The CI guard: the engine's lead over brute force on a 1 M city, ratios
# measured in one run (thresholds in cmd/roomstate/bench.go).
guard: build
	bin/roomstate bench -n 1000000 -guard

# The full benchmark of BENCHMARKS.md (N=10000000 for the city-sized run).
N ?= 1000000
DURATION ?= 2s
bench: build
	bin/roomstate bench -n $(N) -duration $(DURATION) -json bench-$(N).json

# roomstate against PostgreSQL + PostGIS on the same city, polygons and tiles,
# counts checked equal (BENCHMARKS.md); not part of make test. Installs
# Debian's postgresql-15-postgis-3 when missing (needs root). CITY=disc for the
# disc city; EXTRA=FILE adds query polygons from a GeoJSON file.
CITY ?= realistic
compare: build
	@dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || { apt-get update && apt-get install -y postgresql-15-postgis-3; }
	bin/roomstate compare -n $(N) -city $(CITY) $(if $(EXTRA),-polygons $(EXTRA)) -json compare-$(CITY)-$(N).json

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -race -short ./engine/... ./server/... ./store/... ./loader/...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCSVReader$$' -fuzztime $(FUZZTIME) ./loader
	$(GO) test -run '^$$' -fuzz '^FuzzReadCSV$$' -fuzztime $(FUZZTIME) ./loader
	$(GO) test -run '^$$' -fuzz '^FuzzReadGeoJSON$$' -fuzztime $(FUZZTIME) ./loader
	$(GO) test -run '^$$' -fuzz '^FuzzParseExpr$$' -fuzztime $(FUZZTIME) ./engine
	$(GO) test -run '^$$' -fuzz '^FuzzNewRegion$$' -fuzztime $(FUZZTIME) ./engine
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeGeometry$$' -fuzztime $(FUZZTIME) ./server
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./server
