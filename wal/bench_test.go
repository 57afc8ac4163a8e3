package wal

import (
	"fmt"
	"testing"
)

// BenchmarkAppend appends groups of 64 records of 100 bytes, each group one
// write and one fsync, as a busy store's group commit does. Segments rotate
// every 4096 groups, and the ones before are removed.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			grp := make([]Record, 64)
			data := make([]byte, 100)
			for i := range data {
				data[i] = byte('a' + i%26)
			}
			b.SetBytes(64 * 100)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				seq := l.Next()
				for i := range grp {
					grp[i] = Record{Seq: seq + uint64(i), Count: 1, Data: data}
				}
				if err := l.Append(grp); err != nil {
					b.Fatal(err)
				}
				if n++; n%4096 == 0 {
					if err := l.Rotate(l.Next()); err != nil {
						b.Fatal(err)
					}
					if err := l.RemoveBefore(l.Next()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
