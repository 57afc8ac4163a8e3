package tiles

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/privacy"
)

// Cache keeps rendered tiles by (z, x, y, where, scheme, policy, as_of,
// view, campaign). A cached tile is
// served while the engine says nothing it shows has changed; otherwise it is
// rendered again, so a change re-renders only the tiles it touches. The
// least recently used tiles go when the cache holds more than its bytes.
type Cache struct {
	r   *Renderer
	eng *engine.Engine

	mu       sync.Mutex                 // guards entries, lru and bytes
	entries  map[cacheKey]*list.Element // of *cacheEntry
	lru      *list.List                 // front: most recently used
	bytes    int64
	maxBytes int64

	// Hits, Misses and Renders count lookups, for metrics.
	Hits, Misses atomic.Int64
}

type cacheKey struct {
	z, x, y       uint32
	where, scheme string
	policy        privacy.Policy
	asOf          engine.AsOf
	published     Published // a viewer's hierarchy: one per version, so its tiles are its own
	view          string
	campaign      string
}

type cacheEntry struct {
	key  cacheKey
	tile *Tile
}

// NewCache returns a cache of at most maxBytes of tiles (default 256 MiB).
func NewCache(eng *engine.Engine, maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = 256 << 20
	}
	return &Cache{r: NewRenderer(eng), eng: eng, entries: map[cacheKey]*list.Element{}, lru: list.New(), maxBytes: maxBytes}
}

func size(t *Tile) int64 { return int64(len(t.Raw))*3/2 + 256 } // with its gzipped copy

// Get returns the tile, from the cache when it is current (a tile as of a
// version the history has since dropped is not: drawn again, it is the
// engine's fault.HistoryGone).
func (c *Cache) Get(req *Request) (*Tile, error) {
	if req.Scheme == "" {
		req.Scheme = "default"
	}
	key := cacheKey{req.Z, req.X, req.Y, req.Where, req.Scheme, req.Policy, req.AsOf, req.Published, req.View, req.Campaign}
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		t := el.Value.(*cacheEntry).tile
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		if c.eng.TileCurrent(&t.deps) {
			c.Hits.Add(1)
			return t, nil
		}
	} else {
		c.mu.Unlock()
	}
	c.Misses.Add(1)
	t, err := c.r.Render(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.bytes -= size(el.Value.(*cacheEntry).tile)
		el.Value.(*cacheEntry).tile = t
		c.lru.MoveToFront(el)
	} else {
		c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, tile: t})
	}
	c.bytes += size(t)
	for c.bytes > c.maxBytes && c.lru.Len() > 1 {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= size(e.tile)
	}
	return t, nil
}

// Len is the number of cached tiles.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
