package resp

// Trim implements wrappers.Trimmer.
func (d *clientDecoder) Trim() {
	d.p.trim()
	d.args = nil
}

// Trim implements wrappers.Trimmer.
func (d *serverDecoder) Trim() { d.p.trim() }

// trim lets go of the arena's blocks (the terms cut from them keep theirs),
// of the names cached and of the skipper (between frames it skips
// nothing; an interrupted frame makes another).
func (p *parser) trim() {
	p.ar = arena{}
	p.names.Reset()
	p.hot = nil
	p.skip = nil
}
