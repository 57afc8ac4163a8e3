package engine

import (
	"hash/maphash"
)

// idTable maps dwelling ids to slots: open addressing with linear probing over
// a power-of-two array of slot+1 (0 = empty); ids themselves live in the
// state's id arena, so an entry costs 4 bytes.
type idTable struct {
	seed    maphash.Seed
	buckets []uint32 // slot+1, 0 = empty
	n       int
}

func newIDTable(capacity int) idTable {
	size := 16
	for size < capacity*2 {
		size <<= 1
	}
	return idTable{seed: maphash.MakeSeed(), buckets: make([]uint32, size)}
}

// find returns the slot of id, or -1.
func (t *idTable) find(id string, idOf func(uint32) string) int {
	if len(t.buckets) == 0 {
		return -1
	}
	mask := uint64(len(t.buckets) - 1)
	i := maphash.String(t.seed, id) & mask
	for {
		b := t.buckets[i]
		if b == 0 {
			return -1
		}
		if idOf(b-1) == id {
			return int(b - 1)
		}
		i = (i + 1) & mask
	}
}

// insert adds id → slot; the caller has checked that id is absent.
func (t *idTable) insert(id string, slot uint32, idOf func(uint32) string) {
	if (t.n+1)*2 > len(t.buckets) {
		t.grow(idOf)
	}
	mask := uint64(len(t.buckets) - 1)
	i := maphash.String(t.seed, id) & mask
	for t.buckets[i] != 0 {
		i = (i + 1) & mask
	}
	t.buckets[i] = slot + 1
	t.n++
}

// remove deletes id (which maps to slot) with backward-shift deletion.
func (t *idTable) remove(id string, idOf func(uint32) string) {
	mask := uint64(len(t.buckets) - 1)
	i := maphash.String(t.seed, id) & mask
	for {
		b := t.buckets[i]
		if b == 0 {
			return
		}
		if idOf(b-1) == id {
			break
		}
		i = (i + 1) & mask
	}
	// shift following entries back into the hole where their probe allows
	j := i
	for {
		j = (j + 1) & mask
		b := t.buckets[j]
		if b == 0 {
			break
		}
		home := maphash.String(t.seed, idOf(b-1)) & mask
		// entry at j may move to i if home is not cyclically in (i, j]
		if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
			t.buckets[i] = b
			i = j
		}
	}
	t.buckets[i] = 0
	t.n--
}

func (t *idTable) grow(idOf func(uint32) string) {
	old := t.buckets
	t.buckets = make([]uint32, len(old)*2)
	mask := uint64(len(t.buckets) - 1)
	for _, b := range old {
		if b == 0 {
			continue
		}
		i := maphash.String(t.seed, idOf(b-1)) & mask
		for t.buckets[i] != 0 {
			i = (i + 1) & mask
		}
		t.buckets[i] = b
	}
}

// strTable interns short strings (unit and room names).
type strTable struct {
	strs  []string
	index map[string]uint32
}

func newStrTable() strTable {
	return strTable{strs: []string{""}, index: map[string]uint32{"": 0}}
}

func (t *strTable) intern(s string) uint32 {
	if i, ok := t.index[s]; ok {
		return i
	}
	i := uint32(len(t.strs))
	s = string([]byte(s)) // own the bytes: s may point into a reused buffer
	t.strs = append(t.strs, s)
	t.index[s] = i
	return i
}

// unitTable numbers the administrative units of one level; number 0 is the
// empty id (dwellings without that level).
type unitTable struct {
	ids   []string
	names []string // from boundaries; "" when unknown
	index map[string]uint32
}

func newUnitTable() unitTable {
	return unitTable{ids: []string{""}, names: []string{""}, index: map[string]uint32{"": 0}}
}

func (t *unitTable) intern(id string) uint32 {
	if i, ok := t.index[id]; ok {
		return i
	}
	i := uint32(len(t.ids))
	id = string([]byte(id))
	t.ids = append(t.ids, id)
	t.names = append(t.names, "")
	t.index[id] = i
	return i
}

// areaTuple is a dwelling's place above the building: unit numbers of
// district, street, community and grid.
type areaTuple [numAreaLevels]uint32
