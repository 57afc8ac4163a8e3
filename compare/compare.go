// Package compare measures roomstate against PostgreSQL + PostGIS on the
// same generated city, the same query polygons and the same tiles, in one
// run, and checks that every count is equal.
//
// It starts both as real processes: `roomstate serve` on a free loopback
// port, spoken to over HTTP, and a throwaway PostgreSQL cluster (initdb in a
// temporary directory, its own loopback port, torn down after) with PostGIS,
// loaded by COPY from the same CSV and indexed with GiST on the points. Both
// answer polygon statistics (roomstate's `where` translated to SQL over
// boolean columns, boundary included: ST_Covers) and render the same z14 and
// z10 tiles (PostGIS: ST_AsMVT of one point per building with its counts).
// Counts are also checked against the engine in this process, the oracle of
// the benchmarks. It owns the comparison; it knows roomstate only through its
// command line and HTTP API, PostgreSQL through pgx, and takes the city, the
// query polygons and the dense tiles from package bench.
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/bench"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// Config describes a comparison.
type Config struct {
	N      int       // dwellings of the generated city
	Seed   uint64    // of the city and the random polygons
	City   city.Kind // layout
	Extent orb.Bound // a realistic city fills this box when not zero
	// Polygons is the number of random polygons per size class (default 10);
	// RealCommunities the number of a realistic city's community boundaries
	// used (default 50; all its streets are).
	Polygons, RealCommunities int
	// Extra is a GeoJSON file of more query polygons (Polygon or
	// MultiPolygon features), class "extra"; those roomstate rejects as
	// invalid are left out and counted.
	Extra string
	// Wheres are the flag expressions every polygon is counted with
	// (default: none, and bench.Expressions).
	Wheres []string
	// Reps is the number of timed runs of each query on each system
	// (default 3); TileReps of each tile (default 5).
	Reps, TileReps int
	Roomstate      string    // the roomstate binary (default: this executable)
	PGBin          string    // PostgreSQL's bin directory (default: FindPGBin)
	Log            io.Writer // progress (nil: none)
}

// Row is one line of the comparison: latencies of one workload on both
// systems, in microseconds. Roomstate's are client round trips over HTTP
// (Server: the took_us it reports); PostGIS's are client round trips of
// pgx on one connection. Ratio is PostGIS p50 over roomstate p50.
type Row struct {
	Workload      string   `json:"workload"`
	Queries       int      `json:"queries"`
	Runs          int      `json:"runs"` // timed runs on each system
	Vertices      [2]int   `json:"vertices,omitempty"`
	Inside        [2]int64 `json:"inside,omitempty"`
	RoomstateP50  float64  `json:"roomstate_p50_us"`
	RoomstateP99  float64  `json:"roomstate_p99_us"`
	ServerP50     float64  `json:"roomstate_server_p50_us,omitempty"`
	ServerP99     float64  `json:"roomstate_server_p99_us,omitempty"`
	PostGISP50    float64  `json:"postgis_p50_us"`
	PostGISP99    float64  `json:"postgis_p99_us"`
	Ratio         float64  `json:"postgis_over_roomstate_p50"`
	RoomstateSize int      `json:"roomstate_bytes,omitempty"`
	PostGISSize   int      `json:"postgis_bytes,omitempty"`
	Note          string   `json:"note,omitempty"`
}

// Report is the outcome of a comparison.
type Report struct {
	Machine   string             `json:"machine"`
	Cores     int                `json:"cores"`
	GoVersion string             `json:"go_version"`
	Postgres  string             `json:"postgres"`
	PostGIS   string             `json:"postgis"`
	Settings  []string           `json:"postgres_settings"`
	City      string             `json:"city"`
	Seed      uint64             `json:"seed"`
	Dwellings int                `json:"dwellings"`
	Buildings int                `json:"buildings"`
	Wheres    []string           `json:"wheres"`
	Rows      []Row              `json:"rows"`
	Figures   map[string]float64 `json:"figures"` // load times, numbers of checks
	Checked   string             `json:"checked"`
	Started   time.Time          `json:"started"`
	Took      float64            `json:"took_s"`
}

// query is one query polygon.
type query struct {
	class    string
	name     string
	geom     orb.MultiPolygon
	region   *region.Region
	vertices int
	inside   int64
	body     []byte // GeoJSON geometry, for PostGIS; the HTTP bodies are built per where
}

// timings collects the latencies of one workload.
type timings struct {
	queries        int
	vlo, vhi       int
	ilo, ihi       int64
	rs, server, pg []time.Duration
}

func (t *timings) addQuery(q *query) {
	if t.queries == 0 {
		t.vlo, t.vhi, t.ilo, t.ihi = q.vertices, q.vertices, q.inside, q.inside
	}
	t.queries++
	t.vlo, t.vhi = min(t.vlo, q.vertices), max(t.vhi, q.vertices)
	t.ilo, t.ihi = min(t.ilo, q.inside), max(t.ihi, q.inside)
}

// Run compares roomstate and PostGIS as cfg says. It returns the report
// even when counts differ, with an error saying which.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Polygons <= 0 {
		cfg.Polygons = 10
	}
	if cfg.RealCommunities <= 0 {
		cfg.RealCommunities = 50
	}
	if cfg.Wheres == nil {
		cfg.Wheres = append([]string{""}, bench.Expressions...)
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 3
	}
	if cfg.TileReps <= 0 {
		cfg.TileReps = 5
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	if cfg.PGBin == "" {
		b, err := FindPGBin()
		if err != nil {
			return nil, err
		}
		cfg.PGBin = b
	}
	if cfg.Roomstate == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("compare: finding the roomstate binary: %w", err)
		}
		cfg.Roomstate = exe
	}
	flags := city.FlagNames()
	sqlWheres := make([]string, len(cfg.Wheres))
	for i, w := range cfg.Wheres {
		s, err := SQLWhere(w, flags)
		if err != nil {
			return nil, err
		}
		sqlWheres[i] = s
	}
	rep := &Report{Machine: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Settings: serverSettings,
		City: cfg.City.String(), Seed: cfg.Seed, Wheres: cfg.Wheres, Figures: map[string]float64{}, Started: time.Now()}
	rep.Figures["loadavg_1m_start"] = loadAvg()
	defer func() { rep.Figures["loadavg_1m_end"] = loadAvg() }()

	// the city, its query polygons and the oracle, in this process
	logf("generating a %s city of %d dwellings and its query polygons…", cfg.City, cfg.N)
	fix, err := bench.NewFixture(bench.Config{N: cfg.N, Seed: cfg.Seed, City: cfg.City, Extent: cfg.Extent,
		Polygons: cfg.Polygons, RealCommunities: cfg.RealCommunities})
	if err != nil {
		return nil, err
	}
	rep.Dwellings, rep.Buildings = fix.Eng.Len(), fix.City.Buildings()
	work, err := os.MkdirTemp("", "roomstate-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	csvPath, geoPath := filepath.Join(work, "dwellings.csv"), filepath.Join(work, "boundaries.geojson")
	for path, write := range map[string]func(io.Writer) error{csvPath: fix.City.WriteCSV, geoPath: fix.City.WriteBoundaries} {
		if err := writeFile(path, write); err != nil {
			return nil, err
		}
	}
	queries, rejected, err := collectQueries(fix, cfg.Extra)
	if err != nil {
		return nil, err
	}
	if rejected > 0 {
		rep.Figures["extra_polygons_rejected"] = float64(rejected)
		logf("%d polygons of %s are invalid for roomstate (crossing rings): left out", rejected, cfg.Extra)
	}
	pos := buildingPoints(fix.City)

	// both systems
	logf("starting roomstate serve (%s)…", cfg.Roomstate)
	rs, err := startRoomstate(ctx, cfg.Roomstate, csvPath, geoPath)
	if err != nil {
		return nil, err
	}
	defer rs.Stop()
	rep.Figures["roomstate_load_s"] = rs.Ready.Seconds()
	logf("roomstate listening on %s after %.1f s", rs.addr, rs.Ready.Seconds())
	logf("starting PostgreSQL from %s…", cfg.PGBin)
	pg, err := startPostgres(ctx, cfg.PGBin, work)
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		return nil, fmt.Errorf("compare: connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	steps, err := load(ctx, conn, csvPath, flags)
	if err != nil {
		return nil, err
	}
	for k, d := range steps {
		rep.Figures["postgis_load_"+k+"_s"] = d.Seconds()
	}
	logf("PostGIS loaded: COPY %.1f s, GiST index %.1f s, VACUUM ANALYZE %.1f s", steps["copy"].Seconds(), steps["index"].Seconds(), steps["vacuum_analyze"].Seconds())
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&rep.Postgres); err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, "SELECT postgis_lib_version()").Scan(&rep.PostGIS); err != nil {
		return nil, err
	}

	var bad []string
	byWorkload := map[string]*timings{}
	var order []string
	timing := func(name string) *timings {
		if t, ok := byWorkload[name]; ok {
			return t
		}
		t := &timings{}
		byWorkload[name] = t
		order = append(order, name)
		return t
	}
	// polygons: every query with every where, checked three ways, then timed
	logf("polygon queries: %d polygons × %d wheres × %d runs on each system…", len(queries), len(cfg.Wheres), cfg.Reps)
	nChecked := 0
	for wi, where := range cfg.Wheres {
		whereStart := time.Now()
		stmt := countSQL(sqlWheres[wi], flags)
		// warm up, untimed: roomstate builds its rank index of a new where
		// on first use, pgx prepares the statement
		if len(queries) > 0 {
			if _, _, err := rs.polygon(bench.PolygonBody(queries[0].geom, where)); err != nil {
				return nil, err
			}
			if _, err := conn.Exec(ctx, stmt, queries[0].body); err != nil {
				return nil, fmt.Errorf("compare: PostGIS: %w", err)
			}
		}
		for qi := range queries {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			q := &queries[qi]
			body := bench.PolygonBody(q.geom, where)
			var got answer
			var rsD, srvD, pgD []time.Duration
			for r := 0; r < cfg.Reps; r++ {
				a, d, err := rs.polygon(body)
				if err != nil {
					return nil, fmt.Errorf("%s polygon %s: %w", q.class, q.name, err)
				}
				got = a
				rsD = append(rsD, d)
				srvD = append(srvD, time.Duration(a.TookUS)*time.Microsecond)
			}
			pgc := make([]int64, 2+len(flags))
			dst := make([]any, len(pgc))
			for i := range pgc {
				dst[i] = &pgc[i]
			}
			for r := 0; r < cfg.Reps; r++ {
				t := time.Now()
				if err := conn.QueryRow(ctx, stmt, q.body).Scan(dst...); err != nil {
					return nil, fmt.Errorf("compare: PostGIS, %s polygon %s: %w", q.class, q.name, err)
				}
				pgD = append(pgD, time.Since(t))
			}
			var res engine.PolygonResult
			if err := fix.Eng.PolygonStats(&engine.PolygonQuery{Region: q.region, Where: where}, &res); err != nil {
				return nil, err
			}
			if d := diffCounts(got, pgc, &res, flags); d != "" {
				bad = append(bad, fmt.Sprintf("%s polygon %s (%d vertices), where %q: %s", q.class, q.name, q.vertices, where, d))
			}
			nChecked++
			names := []string{"polygon/" + q.class}
			if q.class != bench.ClassCommunity && q.class != bench.ClassStreet && q.class != bench.ClassDistrict {
				names = append(names, "polygon/"+q.class+"/"+bench.VertexClass(q.vertices))
			}
			for _, n := range names {
				t := timing(n)
				if wi == 0 {
					t.addQuery(q)
				}
				t.rs = append(t.rs, rsD...)
				t.server = append(t.server, srvD...)
				t.pg = append(t.pg, pgD...)
			}
		}
		logf("  where %q: %d polygons in %.0f s", where, len(queries), time.Since(whereStart).Seconds())
	}
	rep.Figures["polygon_queries_checked"] = float64(nChecked)
	// classes in order of appearance, each followed by its vertex classes in order
	for _, name := range order {
		if strings.Count(name, "/") > 1 {
			continue
		}
		rep.Rows = append(rep.Rows, byWorkload[name].row(name))
		for _, vc := range bench.VertexClasses {
			if t, ok := byWorkload[name+"/"+vc]; ok {
				rep.Rows = append(rep.Rows, t.row(name+"/"+vc))
			}
		}
	}

	// tiles: the densest z14 tile and the z10 tile with most of the city
	nTiles, nUnits := 0, 0
	for _, z := range []maptile.Zoom{14, 10} {
		t := fix.DenseTile(z)
		for wi, where := range []string{cfg.Wheres[0], cfg.Wheres[min(1, len(cfg.Wheres)-1)]} {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			sw, err := SQLWhere(where, flags)
			if err != nil {
				return nil, err
			}
			stmt := tileSQL(sw, flags)
			name := fmt.Sprintf("tile/z%d", z)
			if wi > 0 {
				name += "/where"
			}
			logf("%s %d/%d/%d…", name, t.Z, t.X, t.Y)
			var rsRaw, pgRaw []byte
			var unc, cached, pgD []time.Duration
			// warm up, untimed: roomstate projects the boundaries once per
			// zoom, PostgreSQL reads the pages
			if _, _, err := rs.tile(uint32(t.Z), t.X, t.Y, where+"\t"); err != nil {
				return nil, err
			}
			if err := conn.QueryRow(ctx, stmt, int(t.Z), int(t.X), int(t.Y)).Scan(&pgRaw); err != nil {
				return nil, fmt.Errorf("compare: PostGIS tile %d/%d/%d: %w", t.Z, t.X, t.Y, err)
			}
			for r := 0; r < cfg.TileReps; r++ {
				// a distinct where string for the same expression: not in the cache
				raw, d, err := rs.tile(uint32(t.Z), t.X, t.Y, where+strings.Repeat(" ", r+1))
				if err != nil {
					return nil, err
				}
				rsRaw = raw
				unc = append(unc, d)
			}
			for r := 0; r <= cfg.TileReps; r++ {
				_, d, err := rs.tile(uint32(t.Z), t.X, t.Y, where)
				if err != nil {
					return nil, err
				}
				if r > 0 { // the first one fills the cache
					cached = append(cached, d)
				}
			}
			for r := 0; r < cfg.TileReps; r++ {
				start := time.Now()
				if err := conn.QueryRow(ctx, stmt, int(t.Z), int(t.X), int(t.Y)).Scan(&pgRaw); err != nil {
					return nil, fmt.Errorf("compare: PostGIS tile %d/%d/%d: %w", t.Z, t.X, t.Y, err)
				}
				pgD = append(pgD, time.Since(start))
			}
			n, err := checkTile(t, rsRaw, pgRaw, pos, flags)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s %d/%d/%d where %q: %v", name, t.Z, t.X, t.Y, where, err))
			}
			nTiles++
			nUnits += n
			row := (&timings{queries: 1, rs: unc, pg: pgD}).row(name)
			row.RoomstateSize, row.PostGISSize = len(rsRaw), len(pgRaw)
			row.Note = fmt.Sprintf("%d/%d/%d, uncached; %d %s compared", t.Z, t.X, t.Y, n, map[bool]string{true: "buildings", false: "cells"}[t.Z >= buildingZoom])
			rep.Rows = append(rep.Rows, row)
			crow := (&timings{queries: 1, rs: cached, pg: pgD}).row(name + "/cached")
			crow.Note = "roomstate's tile cache (PostGIS has none: the same uncached figures)"
			rep.Rows = append(rep.Rows, crow)
		}
	}
	rep.Figures["tiles_checked"] = float64(nTiles)
	rep.Figures["tile_buildings_or_cells_checked"] = float64(nUnits)
	rep.Took = time.Since(rep.Started).Seconds()
	if len(bad) > 0 {
		rep.Checked = fmt.Sprintf("COUNTS DIFFER in %d of %d polygon queries and %d tiles", len(bad), nChecked, nTiles)
		return rep, fmt.Errorf("%w: %v", ErrCounts, mismatch(bad))
	}
	rep.Checked = fmt.Sprintf("all equal: %d polygon queries (roomstate over HTTP, PostGIS, the engine in process) and %d tiles (%d buildings or cells)", nChecked, nTiles, nUnits)
	return rep, nil
}

// diffCounts says how roomstate's answer, PostGIS's counts (total, matched,
// then per flag) and the engine's result differ, or "" when they agree.
func diffCounts(rs answer, pg []int64, e *engine.PolygonResult, flags []string) string {
	var d []string
	check := func(what string, r, p, o int64) {
		if r != p || r != o {
			d = append(d, fmt.Sprintf("%s roomstate %d, PostGIS %d, engine %d", what, r, p, o))
		}
	}
	check("total", rs.Total, pg[0], e.Total)
	check("matched", rs.Matched, pg[1], e.Matched)
	for i, f := range flags {
		o := int64(-1)
		if j := slices.Index(e.FlagNames, f); j >= 0 {
			o = e.Flags[j]
		}
		check(f, rs.Flags[f], pg[2+i], o)
	}
	return strings.Join(d, "; ")
}

func (t *timings) row(name string) Row {
	rs := bench.Summarise(name, t.rs, 0, 0)
	srv := bench.Summarise(name, t.server, 0, 0)
	pg := bench.Summarise(name, t.pg, 0, 0)
	r := Row{Workload: name, Queries: t.queries, Runs: len(t.rs), Vertices: [2]int{t.vlo, t.vhi}, Inside: [2]int64{t.ilo, t.ihi},
		RoomstateP50: rs.P50us, RoomstateP99: rs.P99us, ServerP50: srv.P50us, ServerP99: srv.P99us, PostGISP50: pg.P50us, PostGISP99: pg.P99us}
	if r.RoomstateP50 > 0 {
		r.Ratio = r.PostGISP50 / r.RoomstateP50
	}
	return r
}

// collectQueries takes the fixture's polygons of every class and the
// polygons of the extra file; it returns how many of those roomstate
// would reject.
func collectQueries(fix *bench.Fixture, extra string) ([]query, int, error) {
	var out []query
	for _, class := range bench.Classes {
		for i, q := range fix.Polygons[class] {
			out = append(out, query{class: class, name: fmt.Sprint(i), geom: q.Geometry, region: q.Region, vertices: q.Vertices, inside: q.Inside})
		}
	}
	rejected := 0
	if extra != "" {
		ps, err := bench.ReadPolygons(extra)
		if err != nil {
			return nil, 0, fmt.Errorf("compare: -polygons: %w", err)
		}
		for _, p := range ps {
			rg, err := region.New(p.Geometry)
			if err != nil {
				rejected++
				continue
			}
			var res engine.PolygonResult
			if err := fix.Eng.PolygonStats(&engine.PolygonQuery{Region: rg}, &res); err != nil {
				return nil, 0, err
			}
			q := query{class: "extra", name: p.Name, geom: p.Geometry, region: rg, inside: res.Total}
			for _, pl := range p.Geometry {
				for _, r := range pl {
					q.vertices += len(r) - 1
				}
			}
			out = append(out, q)
		}
	}
	for i := range out {
		g := geojson.NewGeometry(out[i].geom)
		if len(out[i].geom) == 1 {
			g = geojson.NewGeometry(out[i].geom[0])
		}
		b, err := g.MarshalJSON()
		if err != nil {
			return nil, 0, err
		}
		out[i].body = b
	}
	return out, rejected, nil
}

// buildingPoints maps every building to its point.
func buildingPoints(c *city.City) map[string]orb.Point {
	pos := map[string]orb.Point{}
	c.Dwellings(func(r *engine.Record) error {
		if _, ok := pos[r.Building]; !ok {
			pos[r.Building] = orb.Point{r.Lon, r.Lat}
		}
		return nil
	})
	return pos
}

// writeFile writes path through fn.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("compare: writing %s: %w", path, err)
	}
	return f.Close()
}

// loadAvg is the machine's load average over the last minute (how busy a
// shared machine was while measuring), or -1.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var v float64
	if _, err := fmt.Sscan(string(data), &v); err != nil {
		return -1
	}
	return v
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			if _, v, ok := strings.Cut(v, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// WriteTable prints the report as a table.
func (rep *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "roomstate vs PostGIS: %s city (seed %d) of %d dwellings, %d buildings\n", rep.City, rep.Seed, rep.Dwellings, rep.Buildings)
	fmt.Fprintf(w, "machine: %s, %d cores, %s; %s; PostGIS %s; load average %.1f at the start, %.1f at the end\n", rep.Machine, rep.Cores,
		rep.GoVersion, firstWords(rep.Postgres, 2), rep.PostGIS, rep.Figures["loadavg_1m_start"], rep.Figures["loadavg_1m_end"])
	fmt.Fprintf(w, "load: roomstate serve %.1f s to listening; PostGIS COPY %.1f s + GiST %.1f s + VACUUM ANALYZE %.1f s\n",
		rep.Figures["roomstate_load_s"], rep.Figures["postgis_load_copy_s"], rep.Figures["postgis_load_index_s"], rep.Figures["postgis_load_vacuum_analyze_s"])
	fmt.Fprintf(w, "wheres: %q; counts: %s\n", rep.Wheres, rep.Checked)
	fmt.Fprintln(w, "latencies in µs: roomstate = HTTP round trip (server = its took_us), PostGIS = pgx round trip; ratio = PostGIS p50 / roomstate p50")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tqueries\truns\tvertices\tinside\troomstate p50\tp99\tserver p50\tPostGIS p50\tp99\tratio\t")
	for _, r := range rep.Rows {
		v, in := "", ""
		if r.Vertices[1] > 0 {
			v = fmt.Sprintf("%d–%d", r.Vertices[0], r.Vertices[1])
			in = fmt.Sprintf("%d–%d", r.Inside[0], r.Inside[1])
		}
		srv := ""
		if r.ServerP50 > 0 {
			srv = fmt.Sprintf("%.0f", r.ServerP50)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t%.1f×\t\n", r.Workload, r.Queries, r.Runs, v, in,
			r.RoomstateP50, r.RoomstateP99, srv, r.PostGISP50, r.PostGISP99, r.Ratio)
	}
	tw.Flush()
	for _, r := range rep.Rows {
		if r.RoomstateSize > 0 || r.PostGISSize > 0 {
			fmt.Fprintf(w, "%-24s roomstate %d bytes, PostGIS %d bytes (%s)\n", r.Workload, r.RoomstateSize, r.PostGISSize, r.Note)
		}
	}
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

// ErrCounts is returned (wrapped, with the differences) when roomstate,
// PostGIS and the engine do not all give the same counts.
var ErrCounts = errors.New("compare: counts differ")
