package resp

import "encoding/binary"

// The names a Redis connection uses over and over — its commands, and the
// simple strings of its replies (+OK, +PONG, +QUEUED) — are found through a
// table made once for the process, whatever their case: a name costs a
// hash of its bytes and one comparison, no per-decoder cache slot, and the
// atom and its boxing are shared by every connection. Other names (new
// commands, module commands, other simple strings) go through the
// decoder's cache as before (see lookup).

// knownNames are the commands of Redis 7.0 (COMMAND LIST, without the
// "container|subcommand" forms, whose subcommand is an argument on the
// wire) and the simple strings of its usual replies, in lower case.
var knownNames = [...]string{
	"acl", "append", "asking", "auth", "bgrewriteaof", "bgsave", "bitcount", "bitfield", "bitfield_ro",
	"bitop", "bitpos", "blmove", "blmpop", "blpop", "brpop", "brpoplpush", "bzmpop", "bzpopmax",
	"bzpopmin", "client", "cluster", "command", "config", "copy", "dbsize", "debug", "decr", "decrby",
	"del", "discard", "dump", "echo", "eval", "eval_ro", "evalsha", "evalsha_ro", "exec", "exists",
	"expire", "expireat", "expiretime", "failover", "fcall", "fcall_ro", "flushall", "flushdb",
	"function", "geoadd", "geodist", "geohash", "geopos", "georadius", "georadius_ro",
	"georadiusbymember", "georadiusbymember_ro", "geosearch", "geosearchstore", "get", "getbit",
	"getdel", "getex", "getrange", "getset", "hdel", "hello", "hexists", "hget", "hgetall", "hincrby",
	"hincrbyfloat", "hkeys", "hlen", "hmget", "hmset", "hrandfield", "hscan", "hset", "hsetnx",
	"hstrlen", "hvals", "incr", "incrby", "incrbyfloat", "info", "keys", "lastsave", "latency", "lcs",
	"lindex", "linsert", "llen", "lmove", "lmpop", "lolwut", "lpop", "lpos", "lpush", "lpushx",
	"lrange", "lrem", "lset", "ltrim", "memory", "mget", "migrate", "module", "monitor", "move",
	"mset", "msetnx", "multi", "object", "ok", "persist", "pexpire", "pexpireat", "pexpiretime",
	"pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest", "ping", "pong", "psetex", "psubscribe",
	"psync", "pttl", "publish", "pubsub", "punsubscribe", "queued", "quit", "randomkey", "readonly",
	"readwrite", "rename", "renamenx", "replconf", "replicaof", "reset", "restore", "restore-asking",
	"role", "rpop", "rpoplpush", "rpush", "rpushx", "sadd", "save", "scan", "scard", "script", "sdiff",
	"sdiffstore", "select", "set", "setbit", "setex", "setnx", "setrange", "shutdown", "sinter",
	"sintercard", "sinterstore", "sismember", "slaveof", "slowlog", "smembers", "smismember", "smove",
	"sort", "sort_ro", "spop", "spublish", "srandmember", "srem", "sscan", "ssubscribe", "strlen",
	"subscribe", "substr", "sunion", "sunionstore", "sunsubscribe", "swapdb", "sync", "time", "touch",
	"ttl", "type", "unlink", "unsubscribe", "unwatch", "wait", "watch", "xack", "xadd", "xautoclaim",
	"xclaim", "xdel", "xgroup", "xinfo", "xlen", "xpending", "xrange", "xread", "xreadgroup",
	"xrevrange", "xsetid", "xtrim", "zadd", "zcard", "zcount", "zdiff", "zdiffstore", "zincrby",
	"zinter", "zintercard", "zinterstore", "zlexcount", "zmpop", "zmscore", "zpopmax", "zpopmin",
	"zrandmember", "zrange", "zrangebylex", "zrangebyscore", "zrangestore", "zrank", "zrem",
	"zremrangebylex", "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebylex",
	"zrevrangebyscore", "zrevrank", "zscan", "zscore", "zunion", "zunionstore",
}

// namesTableSize is the number of slots of namesTable: a power of two, at
// least twice the number of names, so that probes are short.
const namesTableSize = 1024

// maxKnownName is the length of the longest known name; longer words are
// not looked up in the table.
const maxKnownName = 20

// nameEntry is one slot of namesTable; an empty key marks a free slot.
type nameEntry struct {
	key  string // lower case
	word uint64 // key packed by pack when it is at most 8 bytes long, else 0
	name name
}

// namesTable is the open-addressed (linear probing) table of knownNames,
// indexed by nameHash.
var namesTable = func() *[namesTableSize]nameEntry {
	t := new([namesTableSize]nameEntry)
	for _, k := range knownNames {
		if len(k) > maxKnownName {
			panic("resp: known name " + k + " is longer than maxKnownName")
		}
		b := []byte(k)
		var w uint64
		if len(b) <= 8 {
			w = pack(b)
		}
		i := nameHash(b, w) & (namesTableSize - 1)
		for t[i].key != "" {
			i = (i + 1) & (namesTableSize - 1)
		}
		t[i] = nameEntry{key: k, word: w, name: makeName(k)}
	}
	return t
}()

// asciiLower maps the ASCII capitals to lower case and every other byte
// to itself.
var asciiLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// pack returns the bytes of b, at most 8, as a little-endian word with
// the ASCII capitals lowered: most names are compared and hashed as one
// word.
func pack(b []byte) uint64 {
	var x uint64
	if cap(b) >= 8 {
		// One load: b is a name in a read buffer, usually followed by
		// more bytes; those past len(b) are masked off.
		x = binary.LittleEndian.Uint64(b[:8]) & (1<<(8*len(b)) - 1)
	} else {
		for i, c := range b {
			x |= uint64(c) << (8 * i)
		}
	}
	// The bytes of x from 'A' to 'Z' get their 0x20 bit: a byte's top
	// bit is set in ge when its low seven bits are 'A' or more, in gt
	// when they are past 'Z', and bytes of 0x80 or more are left out.
	const ones = 0x0101010101010101
	low := x & (0x7f * ones)
	ge := low + (0x80-'A')*ones
	gt := low + (0x80-'Z'-1)*ones
	upper := ge &^ gt &^ x & (0x80 * ones)
	return x | upper>>2
}

// nameHash hashes b, a name of at most 8 bytes by its packed word w, a
// longer one by its bytes lowered to ASCII lower case.
func nameHash(b []byte, w uint64) uint32 {
	if len(b) <= 8 {
		return uint32((w * 0x9e3779b97f4a7c15) >> 40)
	}
	h := uint32(len(b))
	for _, c := range b {
		h = h*31 + uint32(asciiLower[c])
	}
	return h ^ h>>7
}

// knownName returns the known name b spells in any case of its ASCII
// letters. A spelling with other bytes (such as a Unicode letter that
// lowercases to an ASCII one) is not found here; the cache makes it, the
// same way, through makeName.
func knownName(b []byte) (name, bool) {
	if len(b) == 0 || len(b) > maxKnownName {
		return name{}, false
	}
	if len(b) <= 8 {
		w := pack(b)
		for i := nameHash(b, w) & (namesTableSize - 1); ; i = (i + 1) & (namesTableSize - 1) {
			e := &namesTable[i]
			if e.word == w && len(e.key) == len(b) {
				return e.name, true
			}
			if e.key == "" {
				return name{}, false
			}
		}
	}
	for i := nameHash(b, 0) & (namesTableSize - 1); ; i = (i + 1) & (namesTableSize - 1) {
		e := &namesTable[i]
		if len(e.key) == len(b) && equalLower(e.key, b) {
			return e.name, true
		}
		if e.key == "" {
			return name{}, false
		}
	}
}

// equalLower reports whether b lowered to ASCII lower case is key.
func equalLower(key string, b []byte) bool {
	for i, c := range b {
		if asciiLower[c] != key[i] {
			return false
		}
	}
	return true
}
