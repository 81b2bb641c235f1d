// Package sizeclass tells the tests which of the Go allocator's size
// classes an object lands in, measured rather than computed. What an idle
// session keeps is a handful of objects, each rounded up to its class, and
// a field added to one of them can cost a whole class step per connection.
// The rule is not just "the next class up": an object of more than 512
// bytes that holds pointers carries an 8-byte header in its slot, so an
// 888-byte struct fits 896 and an 896-byte one takes 1,024. Asking the
// allocator, through runtime.MemStats.BySize, keeps the tests right
// whatever rule the runtime follows.
package sizeclass

import (
	"fmt"
	"runtime"
)

// samples is how many objects Of allocates: far more than any other
// goroutine of a test is likely to allocate of one class meanwhile.
const samples = 4096

// attempts is how many times Of measures before it gives up on an unclear
// answer: a goroutine left over from another test (a service still
// writing) can allocate thousands of small objects meanwhile.
const attempts = 5

// Of returns the size of the class that new(T) is allocated from, or an
// error when no class took the objects (T is larger than the largest small
// class, or has size zero) or the answer stayed unclear over attempts
// measurements.
func Of[T any]() (uint32, error) {
	var err error
	for range attempts {
		class, unclear, e := measure[T]()
		if !unclear {
			return class, e
		}
		err = e
	}
	return 0, err
}

// measure is one measurement of Of; unclear says that two classes took
// the objects' number of allocations, which another try may settle.
func measure[T any]() (class uint32, unclear bool, err error) {
	keep := make([]*T, samples)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = new(T)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	// The class that took the objects counts at least samples more
	// allocations; another class can only if something else allocated
	// as much meanwhile, and then the answer is not clear.
	for i := range after.BySize {
		if after.BySize[i].Mallocs-before.BySize[i].Mallocs < samples {
			continue
		}
		if class != 0 {
			return 0, true, fmt.Errorf("two size classes (%d and %d bytes) took %d allocations each", class, after.BySize[i].Size, samples)
		}
		class = after.BySize[i].Size
	}
	if class == 0 {
		var zero T
		return 0, false, fmt.Errorf("no small size class took %d objects of %T", samples, zero)
	}
	return class, false, nil
}
