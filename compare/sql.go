package compare

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/expr"
)

// SQLWhere translates a roomstate flag expression (`a & !b | c`, or with
// and/or/not) over flags into a SQL boolean expression over boolean columns
// of the same names: `("a" AND NOT "b") OR "c"` means the same, because SQL
// too binds NOT tightest, then AND, then OR. The expression is checked and
// put in canonical form by the engine's own parser first, so what SQL gets
// is exactly what roomstate evaluates. The empty expression is TRUE.
func SQLWhere(where string, flags []string) (string, error) {
	ids := make(map[string]engine.FlagID, len(flags))
	for i, f := range flags {
		ids[f] = engine.FlagID(i)
	}
	x, err := expr.Parse(where, func(name string) (engine.FlagID, bool) {
		id, ok := ids[name]
		return id, ok
	})
	if err != nil {
		return "", fmt.Errorf("compare: where %q: %w", where, err)
	}
	canon := x.String()
	if canon == "" {
		return "TRUE", nil
	}
	var b strings.Builder
	for i := 0; i < len(canon); {
		r, w := utf8.DecodeRuneInString(canon[i:])
		switch {
		case r == '!':
			b.WriteString("NOT ")
		case r == '&':
			b.WriteString(" AND ")
		case r == '|':
			b.WriteString(" OR ")
		case r == '(' || r == ')':
			b.WriteRune(r)
		case identRune(r):
			j := i
			for j < len(canon) {
				r2, w2 := utf8.DecodeRuneInString(canon[j:])
				if !identRune(r2) {
					break
				}
				j += w2
			}
			switch name := canon[i:j]; name {
			case "true":
				b.WriteString("TRUE")
			case "false":
				b.WriteString("FALSE")
			default:
				b.WriteString(QuoteIdent(name))
			}
			i = j
			continue
		default:
			return "", fmt.Errorf("compare: where %q: unexpected %q in the canonical form %q", where, r, canon)
		}
		i += w
	}
	return b.String(), nil
}

// identRune is a character of a flag name, as the engine's parser reads them.
func identRune(r rune) bool {
	return r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// QuoteIdent quotes a SQL identifier.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// countSQL is the statement counting a polygon's dwellings as roomstate
// does: all of them, those matching where, and for each flag those matching
// where that carry it; the boundary belongs to the polygon (ST_Covers). $1
// is the polygon as GeoJSON.
func countSQL(where string, flags []string) string {
	var b strings.Builder
	b.WriteString("SELECT count(*), count(*) FILTER (WHERE " + where + ")")
	for _, f := range flags {
		b.WriteString(", count(*) FILTER (WHERE (" + where + ") AND " + QuoteIdent(f) + ")")
	}
	b.WriteString(" FROM dwellings WHERE ST_Covers(ST_SetSRID(ST_GeomFromGeoJSON($1), 4326), geom)")
	return b.String()
}

// tileSQL is the statement rendering a tile as roomstate's buildings layer
// does: one point per building with an id, total, matched and a count per
// flag, in a 4096-unit extent with a 64-unit buffer. $1, $2, $3 are z, x, y.
func tileSQL(where string, flags []string) string {
	var b strings.Builder
	b.WriteString("WITH b AS (SELECT building, min(lon) AS lon, min(lat) AS lat, count(*) AS total, count(*) FILTER (WHERE " + where + ") AS matched")
	for _, f := range flags {
		b.WriteString(", count(*) FILTER (WHERE (" + where + ") AND " + QuoteIdent(f) + ") AS " + QuoteIdent(f))
	}
	b.WriteString(" FROM dwellings WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 64.0/4096), 4326) GROUP BY building)")
	b.WriteString(" SELECT ST_AsMVT(t, 'buildings', 4096, 'geom') FROM (SELECT building AS id, total, matched")
	for _, f := range flags {
		b.WriteString(", " + QuoteIdent(f))
	}
	b.WriteString(", ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom FROM b) t WHERE geom IS NOT NULL")
	return b.String()
}

// schemaSQL creates the dwellings table of roomstate's CSV columns, flags as
// booleans, and the point as a generated column.
func schemaSQL(flags []string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE dwellings (id text, lon float8, lat float8, district text, street text, community text, grid text, building text, unit text, floor int, room text")
	for _, f := range flags {
		b.WriteString(", " + QuoteIdent(f) + " boolean")
	}
	b.WriteString(", geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED)")
	return b.String()
}

// copySQL reads roomstate's CSV (header included) into the table.
func copySQL(flags []string) string {
	cols := []string{"id", "lon", "lat", "district", "street", "community", "grid", "building", "unit", "floor", "room"}
	for _, f := range flags {
		cols = append(cols, QuoteIdent(f))
	}
	return "COPY dwellings (" + strings.Join(cols, ", ") + ") FROM STDIN WITH (FORMAT csv, HEADER true)"
}
