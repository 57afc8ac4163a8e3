package city

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/paulmach/orb/geojson"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
)

// CSVHeader is the header row WriteCSV writes.
const CSVHeader = "id,lon,lat,district,street,community,grid,building,unit,floor,room"

// WriteCSV writes every dwelling as CSV in the form of API.md.
func (c *City) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(CSVHeader)
	for _, f := range FlagNames() {
		bw.WriteString("," + f)
	}
	bw.WriteString("\n")
	buf := make([]byte, 0, 256)
	err := c.Dwellings(func(r *engine.Record) error {
		buf = buf[:0]
		buf = append(buf, r.ID...)
		buf = append(buf, ',')
		buf = coord.AppendE7(buf, coord.ToE7(r.Lon))
		buf = append(buf, ',')
		buf = coord.AppendE7(buf, coord.ToE7(r.Lat))
		for _, s := range []string{r.District, r.Street, r.Community, r.Grid, r.Building, r.Unit} {
			buf = append(buf, ',')
			buf = appendCSVField(buf, s)
		}
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(r.Floor), 10)
		buf = append(buf, ',')
		buf = appendCSVField(buf, r.Room)
		for i := range FlagRates {
			if i < 64 && len(r.Flags) > 0 && r.Flags[0]>>i&1 != 0 {
				buf = append(buf, ",1"...)
			} else {
				buf = append(buf, ",0"...)
			}
		}
		buf = append(buf, '\n')
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func appendCSVField(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	dst = append(dst, strings.ReplaceAll(s, `"`, `""`)...)
	return append(dst, '"')
}

// WriteBoundaries writes every unit's outline as a GeoJSON FeatureCollection
// with properties level, id and name.
func (c *City) WriteBoundaries(w io.Writer) error {
	fc := geojson.NewFeatureCollection()
	for _, b := range c.Boundaries() {
		f := geojson.NewFeature(b.Geometry)
		f.Properties["level"] = b.Level.String()
		f.Properties["id"] = b.ID
		f.Properties["name"] = b.Name
		fc.Append(f)
	}
	enc := json.NewEncoder(w)
	return enc.Encode(fc)
}
