package checker

// Trim lets go of what the session keeps only to check the next messages
// faster, when no message is pending or foreseen: the ring of pending
// messages (with the candidates and bindings its slots reuse), the keys it
// looked up last and its scratch. A session left idle (a proxy parks its
// connection) then holds what a new one holds besides its states; the next
// message makes them again, as the first message of a session does. With
// a message pending or foreseen it does nothing.
func (s *Session) Trim() {
	if s.n > 0 || s.fore.has {
		return
	}
	s.ring, s.head, s.act, s.x = nil, 0, nil, nil
}
