package answer

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestStrMatchesEncodingJSON: strings are written as encoding/json writes
// them (HTML-safe, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped),
// whether they take the plain path or the escaping one.
func TestStrMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pieces := []string{"a", "Z", "0", " ", "居委会", "楼", "\"", "\\", "<", ">", "&", "\n", "\t", "\x01", "\x7f",
		"\u2028", "\u2029", "\u2027", "\xe2\x80", "\xff", "\xc3", "é", "😀", "/"}
	check := func(s string) {
		t.Helper()
		var w jsonw
		w.str(s)
		want, _ := json.Marshal(s)
		if string(w.b) != string(want) {
			t.Fatalf("%q: wrote %s, encoding/json %s", s, w.b, want)
		}
	}
	for _, p := range pieces {
		check(p)
	}
	check("")
	for i := 0; i < 20000; i++ {
		s := ""
		for n := rng.IntN(8); n >= 0; n-- {
			s += pieces[rng.IntN(len(pieces))]
		}
		check(s)
	}
}
