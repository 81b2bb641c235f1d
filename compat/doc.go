// Package compat owns backward compatibility between two versions of a
// contract: type inclusion (T1 ⊆ T2) for every form of type, and the walk
// of both state machines together that finds what a new version breaks for
// old clients and for old services, each finding with the shortest
// conversation that shows it (ubfproxy breaking).
//
// Compare pairs states by behaviour: it walks the product of the two
// machines from their initial states over the conversations the old
// contract allows, so a renamed state is no change. In each pair of state
// sets it sends sample messages of every type either version allows next
// through checker sessions of both; a sample one accepts and the other
// refuses is a finding, with the conversation so far as its trace. The
// samples are drawn at the boundaries the other version's types draw
// (sample.go), so differences between types of every form show; where no
// sample differs, Includer decides whether the types are really included
// and, when it cannot (two different patterns), the finding is may-break.
//
// Inclusion is exact for literals, ranges (also against unions of ranges),
// predefined types and their attributes, tuples with and without tails,
// lists with bounds, records, maps, and named and recursive types (a
// co-inductive assumption set); a variable stands for the types it is bound
// to. A union on the right is tried alternative by alternative, after
// splitting a tuple of unions into its combinations (at most 64), so a few
// unions of structured types that only together cover a type answer No or
// Maybe where Yes is true; the walk's samples then find no difference, and
// such a No is reported as may-break.
package compat
