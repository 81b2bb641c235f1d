//go:build !linux

package proxy

// physicalMemory is unknown off Linux: the default budget is then the
// fixed ceiling (DefaultMaxMemory).
func physicalMemory() int64 { return 0 }
