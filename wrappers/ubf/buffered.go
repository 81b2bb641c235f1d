package ubf

// Buffered returns how many bytes the decoder has read from its reader but
// not yet returned in a frame: after a frame, the start of the next one
// (possibly all of it, possibly only part). A proxy uses it to tell whether
// another frame may follow without a read (wrappers.Bufferer).
func (d *Decoder) Buffered() int { return d.rd.Buffered() }

// Buffered implements wrappers.Bufferer.
func (c *clientDecoder) Buffered() int { return c.d.Buffered() }

// Buffered implements wrappers.Bufferer.
func (sd *serverDecoder) Buffered() int { return sd.d.Buffered() }
