package engine

import (
	"fmt"
	"math"
	"strconv"
)

// FlagID numbers a flag in the engine's flag list (Engine.Flags).
type FlagID uint16

// Version counts changes; it increases with every change to a dwelling.
type Version uint64

// Level is a level of the administrative hierarchy, or building.
type Level uint8

// The levels, from the largest area to the building.
const (
	LevelDistrict Level = iota
	LevelStreet
	LevelCommunity
	LevelGrid
	LevelBuilding
	numAreaLevels = 4 // levels kept in area tuples (all but building)
)

var levelNames = [...]string{"district", "street", "community", "grid", "building"}

// String returns the level's name as used in the API.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// ParseLevel parses "district", "street", "community", "grid" or "building".
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if s == n {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("unknown level %q (want district, street, community, grid or building)", s)
}

// NoFloor is the floor of a dwelling whose floor is not known.
const NoFloor = math.MinInt16

// Fixed-point coordinates: degrees × 1e7, about 1 cm. All geometry tests run
// on these integers, so they are exact.
const e7 = 1e7

// ToE7 converts degrees to fixed point, rounding to the nearest 1e-7 degree.
func ToE7(deg float64) int32 { return int32(math.Round(deg * e7)) }

// FromE7 converts fixed point to degrees.
func FromE7(v int32) float64 { return float64(v) / e7 }

// AppendE7 appends a fixed-point coordinate as a shortest decimal number
// (121.5012, not 121.50120000000001).
func AppendE7(dst []byte, v int32) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v64 := -int64(v)
		return appendE7abs(dst, v64)
	}
	return appendE7abs(dst, int64(v))
}

func appendE7abs(dst []byte, v int64) []byte {
	dst = strconv.AppendInt(dst, v/e7, 10)
	frac := v % e7
	if frac == 0 {
		return dst
	}
	var buf [7]byte
	for i := 6; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for n > 0 && buf[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, buf[:n]...)
}

// ValidLonLat reports whether lon/lat are finite degrees in range.
func ValidLonLat(lon, lat float64) error {
	switch {
	case math.IsNaN(lon) || math.IsInf(lon, 0):
		return fmt.Errorf("longitude %v is not a finite number", lon)
	case math.IsNaN(lat) || math.IsInf(lat, 0):
		return fmt.Errorf("latitude %v is not a finite number", lat)
	case lon < -180 || lon > 180:
		return fmt.Errorf("longitude %v is out of range [-180, 180]", lon)
	case lat < -90 || lat > 90:
		return fmt.Errorf("latitude %v is out of range [-90, 90]", lat)
	}
	return nil
}

// Counts are the figures every aggregate carries: how many dwellings, how many
// of them match the `where` expression, and for each flag how many of the
// matched dwellings carry it (indexed by FlagID).
type Counts struct {
	Total   int64
	Matched int64
	Flags   []int64
}

// add adds o to c (c.Flags must be at least as long as o.Flags).
func (c *Counts) add(o *Counts) {
	c.Total += o.Total
	c.Matched += o.Matched
	for i, v := range o.Flags {
		c.Flags[i] += v
	}
}
