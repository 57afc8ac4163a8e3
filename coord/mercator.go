package coord

import "math"

// Mercator is a position in Web Mercator as fractions of the world: X from
// the antimeridian eastwards, Y from the north edge southwards. Its place
// at zoom level L, in that level's units, is At(L): the fraction times 2^L,
// which is exact, so a position projected once and scaled to any level is
// bit for bit what a projection at that level gives (orb's mvt projection,
// orb/internal/mercator.ToPlanar, whose operations these are).
type Mercator struct {
	X, Y float64
	// South: beyond the projection's southern limit, Y is the last unit of
	// a level (ToPlanar's clamp) rather than a fraction.
	South bool
}

// ToMercator projects a fixed-point position.
func ToMercator(lon, lat int32) Mercator {
	m := Mercator{X: FromE7(lon)/360.0 + 0.5}
	siny := math.Sin(FromE7(lat) * math.Pi / 180.0)
	switch {
	case siny > 0.9999:
		m.Y = 0
	case siny < -0.9999:
		m.South = true
	default:
		m.Y = 0.5 + 0.5*math.Log((1.0+siny)/(1.0-siny))/(-2*math.Pi)
	}
	return m
}

// At returns the position in the units of zoom level L (a tile of zoom z
// with an extent of 2^e units is level z+e).
func (m Mercator) At(level uint32) (x, y float64) {
	units := float64(uint64(1) << level)
	x = m.X * units
	if m.South {
		return x, units - 1
	}
	return x, m.Y * units
}
