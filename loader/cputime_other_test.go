//go:build !unix

package loader

import "time"

// cpuTime is unknown here.
func cpuTime() time.Duration { return 0 }
