# roomstate: the two commands of the README, and their parts.

GO ?= go
FUZZTIME ?= 10s

.PHONY: demo test lint unit race fuzz build guard bench web-vendor compare

# Start the demo: a synthetic city of about 1 M dwellings, served with the dashboard.
demo:
	$(GO) run ./cmd/roomstate demo

# Run every test CI runs (the dashboard's browser test needs chromium: see .ci/run).
test: lint race unit fuzz guard

# The only target that needs npm: the dashboard's third-party code (MapLibre
# GL JS, uPlot), installed from web/package-lock.json and copied with its
# licences and a manifest into web/third_party, which is committed and
# embedded in the binary. Run it after changing web/package.json
# (npm install --prefix web --save-exact PACKAGE@VERSION), then commit
# web/third_party; web's tests fail while it differs from the lockfile.
web-vendor:
	npm ci --prefix web --no-audit --no-fund
	$(GO) run ./web/internal/webvendor -lock web/package-lock.json -modules web/node_modules -out web/third_party

build:
	$(GO) build -o bin/roomstate ./cmd/roomstate

# The CI guard: the engine's lead over brute force on a 1 M city, ratios
# measured in one run (thresholds in cmd/roomstate/bench.go).
guard: build
	bin/roomstate bench -n 1000000 -guard

# The full benchmark of BENCHMARKS.md (N=10000000 for the city-sized run;
# CITY=disc for the disc city of its first tables).
N ?= 1000000
DURATION ?= 2s
CITY ?= realistic
bench: build
	bin/roomstate bench -n $(N) -city $(CITY) -duration $(DURATION) -json bench-$(CITY)-$(N).json

# roomstate against PostgreSQL + PostGIS on the same city, polygons and tiles,
# counts checked equal (BENCHMARKS.md); not part of make test. Installs
# Debian's postgresql-15-postgis-3 when missing (needs root). CITY=disc for the
# disc city; EXTRA=FILE adds query polygons from a GeoJSON file.
compare: build
	@dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || { apt-get update && apt-get install -y postgresql-15-postgis-3; }
	bin/roomstate compare -n $(N) -city $(CITY) $(if $(EXTRA),-polygons $(EXTRA)) -json compare-$(CITY)-$(N).json

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go mod tidy would change go.mod or go.sum:"; $(GO) mod tidy -diff; exit 1; }

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -race -short ./engine/... ./server/... ./store/... ./loader/... ./answer/... ./tiles/... ./connlimit/... ./wal/... ./history/... ./replica/...

fuzz:
	GO=$(GO) .ci/fuzz ./loader FuzzCSVReader $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./loader FuzzReadCSV $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./loader FuzzReadGeoJSON $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./loader FuzzCSVLimits $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./loader FuzzLineIndex $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./loader FuzzReadAssignments $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./expr FuzzParseExpr $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./region FuzzNewRegion $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./answer FuzzDecodeGeometry $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./answer FuzzJSONNumber $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./answer FuzzPolygonBody $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./regioncache FuzzTextMatch $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./server FuzzHandler $(FUZZTIME)
	GO=$(GO) .ci/fuzz ./wal FuzzOpenDamaged $(FUZZTIME)
