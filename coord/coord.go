// Package coord is roomstate's fixed-point coordinate system: longitudes and
// latitudes as int32 counts of 1e-7 degree (about 1 cm), so that every
// geometric test on dwellings is exact integer arithmetic. It converts from
// and to degrees, checks ranges, writes shortest decimals and projects to
// Web Mercator (as vector tiles place points).
//
// It knows nothing of dwellings, polygons or indexes.
package coord

import (
	"fmt"
	"math"
	"strconv"
)

// Scale is the number of fixed-point units in a degree.
const Scale = 1e7

// ToE7 converts degrees to fixed point, rounding to the nearest 1e-7 degree.
func ToE7(deg float64) int32 { return int32(math.Round(deg * Scale)) }

// FromE7 converts fixed point to degrees.
func FromE7(v int32) float64 { return float64(v) / Scale }

// AppendE7 appends a fixed-point coordinate as a shortest decimal number
// (121.5012, not 121.50120000000001).
func AppendE7(dst []byte, v int32) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return appendAbs(dst, -int64(v))
	}
	return appendAbs(dst, int64(v))
}

func appendAbs(dst []byte, v int64) []byte {
	dst = strconv.AppendInt(dst, v/Scale, 10)
	frac := v % Scale
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
