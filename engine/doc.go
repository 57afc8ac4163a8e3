// Package engine holds every dwelling of a city in memory and answers
// room-state questions about them exactly: polygon statistics, grid
// aggregation, administrative units and room-state maps of buildings.
//
// # Model
//
// A dwelling (户) is a point with an id, a place in the hierarchy
// district → street → community → grid → building → unit → floor → room, and a
// set of boolean flags (isolated, vaccinated, …: any the data brings).
// Dwellings live in slots: parallel arrays indexed by a dwelling number. Slots
// [0, nMain) are ordered by row bands (latitude band, then longitude), so that
// any longitude interval of a band is a contiguous run of slots; later inserts
// go to a small delta [nMain, n) until the next compaction re-sorts them in.
//
// A flag is a dense bit array over the slots (a bit a dwelling: 1.25 MB a
// flag for 10 M dwellings), changed in place by the writer; snapshots hold
// each as a roaring bitmap, made from a frozen copy of the array when the
// snapshot is written, and a restore reads them back. (Until 2026-11-28 a
// roaring bitmap per flag was kept beside the array and updated with every
// change, though only snapshots read it: a tenth of a flag change's time at
// 10 M.) For every `where` expression in use, a rank index caches per block of
// 64 dwellings the expression's bit-word and running counts of the expression
// and of the expression ∧ each flag, so that any slot range is counted in O(1).
//
// # Queries
//
// A polygon query clips the polygon's edges to the row bands. The index is
// over distinct points (a building's dwellings share one), each a run of
// slots. In each band the edges' x-extents form uncertain strips; the gaps
// between them lie wholly inside or outside the polygon and are counted as
// slot ranges; only points inside strips are tested, and only against that
// strip's edges. The cost grows with the polygon's boundary, not its area.
// Coordinates are fixed point (1e-7 degree), so the tests are exact and a
// dwelling on the boundary counts as inside.
//
// Consecutive edges that meet inside a band are clipped as one chain, so a
// ragged boundary of thousands of short edges makes a few items a band, not
// one an edge. An Area (a region asked about repeatedly: a unit's boundary,
// a cached polygon) keeps the slot ranges its first query found inside it
// over the current index; later queries count those ranges and test the
// delta, until a compaction replaces the index.
//
// A low-zoom tile asks for cells, not buildings: per `where` and grid
// level, the sums of the buildings of each cell of a power-of-two grid in
// Web Mercator are kept, and advanced by the buildings changed since, so a
// tile over most of a city reads a thousand cells instead of every building.
//
// # Concurrency
//
// An Engine is the read-only view: safe for concurrent use, it has no method
// that changes anything. The one Writer made with it (New) is the only way
// to change it, and is used by one goroutine (the store's committer). The
// Engine's RWMutex, owned by the Engine, is held exclusively by the writer
// while it changes the state and shared by readers for the whole of a
// question, so that an answer and its version describe one state. Readers
// never write: the derived counting structures (rank views, building
// counts, parsed expressions) are immutable once published, and a reader
// that needs a newer one builds it beside the old and publishes it with an
// atomic swap; the writer only records what changed. Compaction runs in a
// goroutine the writer starts and whose result the writer installs.
//
// It knows nothing of HTTP, of files or of how answers are encoded; the
// flag-expression language (expr), polygon preparation (region) and colour
// schemes (scheme) are packages of their own.
package engine
