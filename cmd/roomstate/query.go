package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/store"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query --load FILE --polygons FILE.geojson [--where EXPR] [--group-by LEVEL]",
		"For analysts' scripts: load dwellings, then print one JSON line per polygon feature of\n"+
			"--polygons, shaped like the answer of POST /api/v1/query/polygon, with \"feature\" (its\n"+
			"index) and \"properties\" (its properties) added. A feature whose geometry is bad gets a\n"+
			"line with \"error\" instead, and the command exits with status 1 at the end.",
		"  roomstate query --load city/dwellings.csv --polygons city/boundaries.geojson \\\n"+
			"      --where 'elderly_alone & !vaccinated' --group-by grid | jq .matched", stderr)
	var loads listFlag
	fs.Var(&loads, "load", "dwellings file (.csv, .geojson); repeatable")
	polygons := fs.String("polygons", "", "GeoJSON FeatureCollection of Polygon/MultiPolygon features")
	where := fs.String("where", "", "flag expression, e.g. 'isolated & !vaccinated'")
	groupBy := fs.String("group-by", "", "also count per district, street, community, grid or building")
	ids := fs.Bool("ids", false, "list the ids of matched dwellings")
	limit := fs.Int("limit", engine.DefaultIDLimit, "at most this many ids per feature (0: none)")
	var lf loadFlags
	addLoadFlags(fs, &lf)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(loads) == 0 || *polygons == "" {
		fs.Usage()
		return errors.New("query: give --load FILE and --polygons FILE")
	}
	lopts, err := lf.options()
	if err != nil {
		return err
	}
	// what can be checked before the load is, and the polygons file is read
	// as loads read theirs (positions, byte order mark, --crs)
	if *groupBy != "" {
		if _, err := engine.ParseLevel(*groupBy); err != nil {
			return fmt.Errorf("query: --group-by: %v", err)
		}
	}
	data, err := os.ReadFile(*polygons)
	if err != nil {
		return err
	}
	if data, err = loader.PolygonFile(*polygons, data, lopts.CRS); err != nil {
		return err
	}
	st, err := store.Open(store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := loadFiles(st, loads, nil, lopts, fileLoad{}, stderr); err != nil {
		return err
	}
	if _, err := st.Engine().ParseWhere(*where); err != nil { // once, not on every feature's line
		return fmt.Errorf("query: --where: %w", err)
	}
	feats, err := answer.DecodeFeatures(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *polygons, err)
	}
	// the answers HTTP gives, read-only, for the command line's own caller
	ans := answer.New(st.Engine(), nil, answer.Options{})
	params := answer.PolygonParams{Where: *where, GroupBy: *groupBy, IDs: *ids, Limit: *limit}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	failed := 0
	for i, f := range feats {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, ok := ans.FeatureLine(i, f, params, answer.System)
		if !ok {
			failed++
		}
		out.Write(line)
	}
	if failed > 0 {
		return fmt.Errorf("query: %d of %d features failed (see their \"error\" lines)", failed, len(feats))
	}
	return nil
}
