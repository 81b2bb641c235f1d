package json

// Buffered returns how many bytes the decoder has read from its reader but
// not yet returned in a line: after a line, the start of the next ones
// (possibly all of a line, possibly only part). A proxy uses it to tell
// whether another line may follow without a read (wrappers.Bufferer).
func (d *Decoder) Buffered() int { return d.rd.Buffered() }

// Buffered implements wrappers.Bufferer.
func (m *msgDecoder) Buffered() int { return m.d.Buffered() }
