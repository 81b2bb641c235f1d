// Package intern is the cache the wrappers make their atoms, short strings
// and names through: the atoms, keys and command names of a protocol
// repeat from message to message, and a hit costs neither an allocation
// nor a map lookup. One Cache belongs to one decoder; it is not safe for
// concurrent use.
package intern

import "strings"

// Cache is a direct-mapped cache from short byte strings to the values
// made from them: each key has one slot, and a new key takes the slot
// over. Its memory is bounded by its size, so a peer sending ever new
// names cannot grow it. It is sized by use: no slots until the first key,
// then firstSlots, four times as many whenever a new key would evict
// another, up to its size; so the decoders of an idle connection that
// used a few names hold a few slots, not the thousands of bytes of a full
// cache. The zero Cache caches nothing; make one with New.
type Cache[V any] struct {
	slots  []entry[V]
	mask   uint32 // len(slots)-1
	size   uint32 // the most slots; 0 in the zero Cache
	maxLen uint32 // a decoder holds several caches: keep this small
}

// firstSlots is the number of slots a cache starts with.
const firstSlots = 8

type entry[V any] struct {
	key string
	val V
}

// MaxKey bounds the maxLen of a cache.
const MaxKey = 255

// unused is the key of an empty slot: longer than any cached key, so that
// it matches none, not even the empty key. It is never written.
var unused = strings.Repeat("?", MaxKey+1)

// New returns a cache of size slots (a power of two, at least 2) for keys
// of at most maxLen (at most MaxKey) bytes; longer keys are made every
// time.
func New[V any](size, maxLen int) Cache[V] {
	if size < 2 || size&(size-1) != 0 || size > 1<<20 || maxLen < 0 || maxLen > MaxKey {
		panic("intern: the size of a cache must be a power of two, and its keys at most MaxKey bytes long")
	}
	return Cache[V]{size: uint32(size), maxLen: uint32(maxLen)}
}

// Get returns the value for b: the cached one, or else mk(string(b)),
// which it caches. made reports whether mk was called (a caller that
// counts the memory it allocates charges for it then).
func (c *Cache[V]) Get(b []byte, mk func(string) V) (v V, made bool) {
	return get(c, b, mk)
}

// GetString is Get for a key held in a string.
func (c *Cache[V]) GetString(s string, mk func(string) V) (v V, made bool) {
	return get(c, s, mk)
}

func get[K ~string | ~[]byte, V any](c *Cache[V], k K, mk func(string) V) (v V, made bool) {
	if len(k) > int(c.maxLen) || c.size == 0 {
		return mk(string(k)), true
	}
	if c.slots == nil {
		c.resize(min(firstSlots, c.size))
	}
	h := hash(k)
	e := &c.slots[h&c.mask]
	if e.key == string(k) {
		return e.val, false
	}
	if e.key != unused && len(c.slots) < int(c.size) {
		c.resize(min(4*uint32(len(c.slots)), c.size))
		e = &c.slots[h&c.mask]
	}
	e.key = string(k)
	e.val = mk(e.key)
	return e.val, true
}

// resize moves the cache to n slots, keeping the entries that still have
// a slot of their own.
func (c *Cache[V]) resize(n uint32) {
	old := c.slots
	c.slots, c.mask = make([]entry[V], n), n-1
	for i := range c.slots {
		c.slots[i].key = unused
	}
	for _, e := range old {
		if e.key != unused {
			c.slots[hash(e.key)&c.mask] = e
		}
	}
}

// hash is FNV-1a of k.
func hash[K ~string | ~[]byte](k K) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return h
}

// Reset empties the cache and lets go of its slots; it fills again as
// keys come.
func (c *Cache[V]) Reset() { c.slots, c.mask = nil, 0 }
