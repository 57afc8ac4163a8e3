package loader

import "unsafe"

// unsafeString views b as a string without copying; the batch copies what it
// keeps, so the view never outlives the reader's buffer.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
