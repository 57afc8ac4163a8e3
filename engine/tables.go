package engine

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// idTable maps dwelling ids to slots: open addressing with linear probing
// over a power-of-two array, indexed by the top bits of the id's hash. A
// bucket packs slot+1 (low 32 bits; 0 = empty) with the low 32 bits of the
// hash, so a probe touches the id itself only when the hashes agree.
type idTable struct {
	seed    maphash.Seed
	buckets []uint64
	shift   uint // 64 - log2(len(buckets))
	n       int
}

func newIDTable(capacity int) idTable {
	t := idTable{seed: maphash.MakeSeed()}
	t.alloc(tableSize(capacity))
	return t
}

func (t *idTable) alloc(size int) {
	t.buckets = make([]uint64, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
}

// tableSize is the number of buckets for n ids: a power of two, at most
// three quarters full (4 M ids take 8 M buckets, 64 MB).
func tableSize(n int) int {
	size := 16
	for size*3 < n*4 {
		size <<= 1
	}
	return size
}

func (t *idTable) hash(id string) uint64 { return maphash.String(t.seed, id) }

func (t *idTable) home(h uint64) uint64 { return h >> t.shift }

func pack(h uint64, slot uint32) uint64 { return h<<32 | uint64(slot+1) }

func sameTag(b, h uint64) bool { return uint32(b>>32) == uint32(h) }

// find returns the slot of id, or -1.
func (t *idTable) find(id string, idOf func(uint32) string) int {
	if len(t.buckets) == 0 {
		return -1
	}
	return t.findHashed(t.hash(id), id, idOf)
}

// findHashed is find for an id of hash h; the table has buckets.
func (t *idTable) findHashed(h uint64, id string, idOf func(uint32) string) int {
	mask := uint64(len(t.buckets) - 1)
	for i := t.home(h); ; i = (i + 1) & mask {
		b := t.buckets[i]
		if b == 0 {
			return -1
		}
		if sameTag(b, h) && idOf(uint32(b)-1) == id {
			return int(uint32(b) - 1)
		}
	}
}

// findAll sets out[i] to the slot of ids[i], or -1, as find does, for a
// batch of ids. It goes through the batch a chunk at a time, and through
// each chunk in stages (each id's probe for the first entry of its tag,
// then the candidate's id bounds, then its bytes) so that the cache and TLB
// misses of different ids overlap instead of following one another; an id
// its candidate does not answer (absent, or a tag shared) goes to
// findHashed. A chunk is small enough that what its first stage brought in
// (pages as well as lines) is still there for its last. In a city of
// millions the three misses of a look-up are most of its cost. It returns a
// sum of what its stages read, for the caller to keep where only it writes,
// so that the reads are not dropped (the table itself is read by queries
// meanwhile).
func (t *idTable) findAll(ids []string, out []int32, idOf func(uint32) string) (read uint64) {
	if len(t.buckets) == 0 {
		for i := range out {
			out[i] = -1
		}
		return 0
	}
	var hs [warmChunk]uint64
	var cand [warmChunk]uint32 // slot+1 of the first entry of the id's tag, 0 for none
	mask := uint64(len(t.buckets) - 1)
	var sink uint64
	for len(ids) > 0 {
		n := min(len(ids), warmChunk)
		for i, id := range ids[:n] {
			h := t.hash(id)
			hs[i], cand[i] = h, 0
			// the first entry of its tag from its home on: the probe
			// stays in the home bucket's line or the next, and a tag
			// (32 bits of hash) all but settles which entry is the id
			for j := t.home(h); ; j = (j + 1) & mask {
				b := t.buckets[j]
				if b == 0 {
					break
				}
				if sameTag(b, h) {
					cand[i] = uint32(b)
					break
				}
			}
		}
		for _, c := range cand[:n] {
			if c != 0 {
				sink += uint64(len(idOf(c - 1)))
			}
		}
		for i, id := range ids[:n] {
			if c := cand[i]; c != 0 && idOf(c-1) == id {
				out[i] = int32(c - 1)
			} else {
				out[i] = int32(t.findHashed(hs[i], id, idOf))
			}
		}
		ids, out = ids[n:], out[n:]
	}
	return sink
}

// warmChunk is how many lookups or changes are brought into the cache
// together (findAll, state.warm): enough for their misses to overlap, few
// enough that what they bring stays in the cache and TLB until used.
const warmChunk = 64

// insertHashed adds an entry of hash h unless one of the same id is present;
// it returns the slot already holding the id, or -1 when it inserted.
func (t *idTable) insertHashed(h uint64, id string, slot uint32, idOf func(uint32) string) int {
	if (t.n+1)*4 > len(t.buckets)*3 {
		t.resize(max(16, len(t.buckets)*2), idOf)
	}
	mask := uint64(len(t.buckets) - 1)
	for i := t.home(h); ; i = (i + 1) & mask {
		b := t.buckets[i]
		if b == 0 {
			t.buckets[i] = pack(h, slot)
			t.n++
			return -1
		}
		if sameTag(b, h) && idOf(uint32(b)-1) == id {
			return int(uint32(b) - 1)
		}
	}
}

// insertNew adds id → slot unless id is present; it returns the slot
// already holding id, or -1 when it inserted.
func (t *idTable) insertNew(id string, slot uint32, idOf func(uint32) string) int {
	return t.insertHashed(t.hash(id), id, slot, idOf)
}

// insert adds id → slot; the caller has checked that id is absent.
func (t *idTable) insert(id string, slot uint32, idOf func(uint32) string) {
	t.insertNew(id, slot, idOf)
}

// remove deletes id with backward-shift deletion.
func (t *idTable) remove(id string, idOf func(uint32) string) {
	mask := uint64(len(t.buckets) - 1)
	h := t.hash(id)
	i := t.home(h)
	for {
		b := t.buckets[i]
		if b == 0 {
			return
		}
		if sameTag(b, h) && idOf(uint32(b)-1) == id {
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
		home := t.home(t.hash(idOf(uint32(b) - 1)))
		// the entry at j may move to i unless its home is cyclically in (i, j]
		if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
			t.buckets[i] = b
			i = j
		}
	}
	t.buckets[i] = 0
	t.n--
}

// renumbered returns a copy of the table in which every slot s is perm[s]:
// the hashes stay, so no id is read or hashed again.
func (t *idTable) renumbered(perm []uint32) idTable {
	out := idTable{seed: t.seed, buckets: make([]uint64, len(t.buckets)), shift: t.shift, n: t.n}
	for i, b := range t.buckets {
		if b != 0 {
			out.buckets[i] = b>>32<<32 | uint64(perm[uint32(b)-1]+1)
		}
	}
	return out
}

func (t *idTable) resize(size int, idOf func(uint32) string) {
	old := t.buckets
	t.alloc(size)
	mask := uint64(size - 1)
	for _, b := range old {
		if b == 0 {
			continue
		}
		h := t.hash(idOf(uint32(b) - 1))
		i := t.home(h)
		for t.buckets[i] != 0 {
			i = (i + 1) & mask
		}
		t.buckets[i] = b
	}
}

// place inserts row (hash h) probing only buckets [lo, hi), wrapping only
// when that is the whole table; false when it would leave the range. A
// duplicate id is recorded in dups as (later row, earlier row), and the
// earlier row stays.
func (t *idTable) place(h uint64, row uint32, idOf func(uint32) string, lo, hi uint64, dups *[][2]uint32) bool {
	size := uint64(len(t.buckets))
	id := idOf(row)
	for i := t.home(h); ; {
		b := t.buckets[i]
		if b == 0 {
			t.buckets[i] = pack(h, row)
			return true
		}
		if sameTag(b, h) && idOf(uint32(b)-1) == id {
			if other := uint32(b) - 1; other < row {
				*dups = append(*dups, [2]uint32{row, other})
			} else {
				t.buckets[i] = pack(h, row)
				*dups = append(*dups, [2]uint32{other, row})
			}
			return true
		}
		i++
		if i == hi {
			if lo != 0 || hi != size {
				return false
			}
			i = 0
		}
	}
}

// bulkIDTable builds the table of rows [0, len(hashes)) whose ids hash to
// hashes (under seed), inserting them grouped by the top bits of their hash
// so that each group fills one small stretch of the table: a fraction of the
// cache and TLB misses of inserting in row order. It returns the duplicates
// as (later row, earlier row) pairs.
func bulkIDTable(seed maphash.Seed, hashes []uint64, idOf func(uint32) string) (idTable, [][2]uint32) {
	n := len(hashes)
	t := idTable{seed: seed}
	t.alloc(tableSize(n))
	const pbits = 12
	parts := 1 << pbits
	shift := uint(64 - pbits)
	start := make([]uint32, parts+1)
	for _, h := range hashes {
		start[h>>shift+1]++
	}
	for i := 1; i <= parts; i++ {
		start[i] += start[i-1]
	}
	order := make([]uint32, n)
	next := append([]uint32(nil), start[:parts]...)
	for row, h := range hashes {
		p := h >> shift
		order[next[p]] = uint32(row)
		next[p]++
	}
	// two workers fill the two halves of the table; a probe that would run
	// out of its worker's half is deferred to a last, sequential pass
	size := uint64(len(t.buckets))
	type result struct {
		dups     [][2]uint32
		deferred []uint32
	}
	var res [2]result
	fill := func(w int, rows []uint32, lo, hi uint64) {
		r := &res[w]
		for _, row := range rows {
			if !t.place(hashes[row], row, idOf, lo, hi, &r.dups) {
				r.deferred = append(r.deferred, row)
			}
		}
	}
	if n < 1<<16 || size < uint64(parts) {
		fill(0, order, 0, size)
	} else {
		mid := start[parts/2]
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); fill(1, order[mid:], size/2, size) }()
		fill(0, order[:mid], 0, size/2)
		wg.Wait()
	}
	dups := append(res[0].dups, res[1].dups...)
	for _, row := range append(res[0].deferred, res[1].deferred...) {
		t.place(hashes[row], row, idOf, 0, size, &dups)
	}
	t.n = n - len(dups)
	return t, dups
}

// strTable interns short strings (unit and room names, building keys).
// Their bytes are copied into chunks of strChunk bytes, many strings to a
// chunk: a city's hundreds of thousands of names are then a few hundred
// objects to the garbage collector, which marks every live object at every
// cycle, not one each.
type strTable struct {
	strs  []string
	index map[string]uint32
	buf   []byte // the chunk being filled; the strings in it are never written again
}

// strChunk is the size of strTable's chunks; a longer string gets its own.
const strChunk = 64 << 10

func newStrTable() strTable {
	return strTable{strs: []string{""}, index: map[string]uint32{"": 0}}
}

func (t *strTable) intern(s string) uint32 {
	if i, ok := t.index[s]; ok {
		return i
	}
	i := uint32(len(t.strs))
	s = t.own(s) // s may point into a reused buffer
	t.strs = append(t.strs, s)
	t.index[s] = i
	return i
}

// own returns a copy of s in the table's chunks.
func (t *strTable) own(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) > strChunk/8:
		return strings.Clone(s)
	case cap(t.buf)-len(t.buf) < len(s):
		t.buf = make([]byte, 0, strChunk)
	}
	at := len(t.buf)
	t.buf = append(t.buf, s...)
	return unsafe.String(&t.buf[at], len(s))
}

// unitTable numbers the administrative units of one level; number 0 is the
// empty id (dwellings without that level).
type unitTable struct {
	ids   []string
	names []string // from boundaries; "" when unknown
	index map[string]uint32

	// order: the unit numbers sorted by id, made by the writer (resort)
	// whenever units were added; never changed in place
	order []uint32
}

// sorted returns the unit numbers in order of their ids.
func (t *unitTable) sorted() []uint32 { return t.order }

// resort makes the order again when units were added since.
func (t *unitTable) resort() {
	if len(t.order) == len(t.ids) {
		return
	}
	o := make([]uint32, len(t.ids))
	for i := range o {
		o[i] = uint32(i)
	}
	slices.SortFunc(o, func(a, b uint32) int { return strings.Compare(t.ids[a], t.ids[b]) })
	t.order = o
}

// resortUnits brings every level's order of units up to date. The writer
// calls it after anything that may add units.
func (st *state) resortUnits() {
	for l := range st.levels {
		st.levels[l].resort()
	}
}

func newUnitTable() unitTable {
	return unitTable{ids: []string{""}, names: []string{""}, index: map[string]uint32{"": 0}, order: []uint32{0}}
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
