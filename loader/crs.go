package loader

import (
	"fmt"
	"math"
)

// CRS names a coordinate reference system of input data.
type CRS string

// The systems the loader understands.
const (
	WGS84 CRS = "wgs84" // GPS coordinates, EPSG:4326
	GCJ02 CRS = "gcj02" // the obfuscated "Mars" coordinates of Chinese maps (AutoNavi, Tencent, Google China)
)

// ParseCRS accepts "wgs84" (or "", "epsg:4326") and "gcj02" (or "gcj-02").
func ParseCRS(s string) (CRS, error) {
	switch s {
	case "", "wgs84", "WGS84", "epsg:4326", "EPSG:4326":
		return WGS84, nil
	case "gcj02", "GCJ02", "gcj-02", "GCJ-02":
		return GCJ02, nil
	}
	return "", fmt.Errorf("unknown CRS %q (want wgs84 or gcj02)", s)
}

// Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it.
const (
	gcjA  = 6378245.0
	gcjEE = 0.00669342162296594323
)

// outOfChina reports whether a point lies outside the rough box in which
// GCJ-02 offsets apply; there the two systems coincide.
func outOfChina(lon, lat float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

func transformLat(x, y float64) float64 {
	r := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	r += (160.0*math.Sin(y/12.0*math.Pi) + 320*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	return r
}

func transformLon(x, y float64) float64 {
	r := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	r += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	return r
}

// WGS84ToGCJ02 applies the published GCJ-02 offset.
func WGS84ToGCJ02(lon, lat float64) (float64, float64) {
	if outOfChina(lon, lat) {
		return lon, lat
	}
	dLat := transformLat(lon-105.0, lat-35.0)
	dLon := transformLon(lon-105.0, lat-35.0)
	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - gcjEE*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (dLat * 180.0) / ((gcjA * (1 - gcjEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (dLon * 180.0) / (gcjA / sqrtMagic * math.Cos(radLat) * math.Pi)
	return lon + dLon, lat + dLat
}

// GCJ02ToWGS84 inverts WGS84ToGCJ02 by fixed-point iteration, to well under
// 1e-7 degree (a centimetre) inside China.
func GCJ02ToWGS84(lon, lat float64) (float64, float64) {
	if outOfChina(lon, lat) {
		return lon, lat
	}
	wLon, wLat := lon, lat
	for i := 0; i < 30; i++ {
		gLon, gLat := WGS84ToGCJ02(wLon, wLat)
		dLon, dLat := gLon-lon, gLat-lat
		wLon -= dLon
		wLat -= dLat
		if math.Abs(dLon) < 1e-10 && math.Abs(dLat) < 1e-10 {
			break
		}
	}
	return wLon, wLat
}

// converter returns the function that turns input coordinates into WGS84.
func (c CRS) converter() func(lon, lat float64) (float64, float64) {
	if c == GCJ02 {
		return GCJ02ToWGS84
	}
	return nil
}
