// Package contracts holds the example and real contracts that ship with
// ubfproxy (one *.con file each, with a comment saying what service it
// describes) and embeds them, so that commands such as ubfproxy demo work
// from any directory with the very files in this folder.
package contracts

import "embed"

// FS holds every *.con file of this directory, by its base name
// (FS.ReadFile("file.con")).
//
//go:embed *.con
var FS embed.FS
