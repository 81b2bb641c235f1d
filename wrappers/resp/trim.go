package resp

import (
	"io"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// Trim implements wrappers.Trimmer. An empty queue of calls goes too, and
// so do the held calls' array when it is empty.
func (d *clientDecoder) Trim() {
	d.p.trim()
	d.args = nil
	if len(d.held) == 0 {
		d.held = nil
	}
	d.s.trimQueued()
}

// Trim implements wrappers.Trimmer. A paired batch of calls goes too.
func (d *serverDecoder) Trim() {
	d.p.trim()
	d.s.trimBatch()
}

// trim lets go of the arena's blocks (the terms cut from them keep theirs),
// of the names cached and of the skipper (between frames it skips
// nothing; an interrupted frame makes another).
func (p *parser) trim() {
	p.ar = arena{}
	p.names.Reset()
	p.hot = nil
	p.skip = nil
}

// parked is a decoder of either direction that parked
// (wrappers.Parker): what a new one needs to go on, a few words where the
// decoder is several hundred bytes.
type parked struct {
	s        *Session
	rd       bufread.Parked
	server   bool
	batching bool // a client decoder's (wrappers.Batcher)
}

// Park implements wrappers.Parker. An empty queue of calls goes too. A
// decoder holding calls not flushed yet does not park (none does when its
// proxy flushes before it reads).
func (d *clientDecoder) Park() wrappers.Parked {
	if len(d.held) > 0 {
		return nil
	}
	d.s.trimQueued()
	return d.p.park(parked{s: d.s, batching: d.batching})
}

// Park implements wrappers.Parker. A merged reply a read cut keeps the
// decoder (it goes on with it).
func (d *serverDecoder) Park() wrappers.Parked {
	if d.m != nil {
		return nil
	}
	d.s.trimBatch()
	return d.p.park(parked{s: d.s, server: true})
}

// park is Park of either direction: pk, with the reader's place, or nil
// when the reader cannot park.
func (p *parser) park(pk parked) wrappers.Parked {
	rd, ok := p.rd.Park()
	if !ok {
		return nil
	}
	pk.rd = rd
	return &pk
}

// Resume implements wrappers.Parked.
func (p *parked) Resume(r io.Reader) wrappers.Decoder {
	rd := p.rd.Resume(r, p.s.lim, "resp")
	if p.server {
		return &serverDecoder{s: p.s, p: newParser(rd)}
	}
	return &clientDecoder{s: p.s, p: newParser(rd), batching: p.batching}
}
