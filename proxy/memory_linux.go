package proxy

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// physicalMemory returns the memory this process may use: the machine's
// RAM, or the cgroup's limit (a container's) when that is lower; 0 when
// neither can be read.
func physicalMemory() int64 {
	var total int64
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		total = int64(si.Totalram) * int64(si.Unit)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
