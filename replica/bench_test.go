package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// BenchmarkAppend appends entries of 64 KiB (a group of ~1,000 changes)
// through Append, one at a time, to a JetStream stream on one NATS server
// in process that fsyncs every message (as `roomstate nats`): the
// journal's counterpart of wal's BenchmarkAppend.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{6 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
				StoreDir: b.TempDir(), NoSigs: true, NoLog: true, SyncAlways: true, MaxPayload: 8 << 20})
			if err != nil {
				b.Fatal(err)
			}
			go s.Start()
			if !s.ReadyForConnections(10 * time.Second) {
				b.Fatal("not ready")
			}
			defer s.Shutdown()
			ctx := context.Background()
			r, err := Dial(ctx, Options{URL: s.ClientURL(), Advertise: "http://bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			data := make([]byte, size)
			b.SetBytes(int64(size))
			var after uint64
			for b.Loop() {
				seq, err := r.Append(ctx, after, data, after+1)
				if err != nil {
					b.Fatal(err)
				}
				after = seq
			}
		})
	}
}
