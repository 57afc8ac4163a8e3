package engine

import (
	"fmt"
	"math"
	"strconv"

	"github.com/roomstate/roomstate/expr"
)

// FlagID numbers a flag in the engine's flag list (Engine.Flags).
type FlagID = expr.FlagID

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
