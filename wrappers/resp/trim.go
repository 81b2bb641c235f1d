package resp

// Trim implements wrappers.Trimmer.
func (d *clientDecoder) Trim() {
	d.p.trim()
	d.args = nil
}

// Trim implements wrappers.Trimmer.
func (d *serverDecoder) Trim() { d.p.trim() }

// trim lets go of the arena's blocks (the terms cut from them keep theirs)
// and of the names cached.
func (p *parser) trim() {
	p.ar = arena{}
	p.names.Reset()
	p.hot = nil
}
