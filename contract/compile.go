package contract

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ubfproxy/ubfproxy/grammar"
)

// Compile parses and compiles one contract. The contract is nil when any
// finding is an error. Type files named in opts and +import declarations
// are read from disk; a file that cannot be read is reported as an error
// finding with the code "import".
func Compile(filename string, src []byte, opts Options) (*Contract, Diagnostics) {
	c, diags, _ := compile(filename, src, opts, os.ReadFile)
	return c, diags
}

// Load reads and compiles the contract at path. The error is non-nil only
// when the contract, a --types file or an +import cannot be read; every
// other problem is a finding.
func Load(path string, opts Options) (*Contract, Diagnostics, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading contract: %w", err)
	}
	return compile(path, src, opts, os.ReadFile)
}

func compile(filename string, src []byte, opts Options, read func(string) ([]byte, error)) (*Contract, Diagnostics, error) {
	cp := &compiler{
		read:     read,
		types:    builtinTypes(),
		origin:   map[string]*typeSource{},
		states:   map[string]*stateInfo{},
		imported: map[string]bool{},
		vars:     map[string]*varInfo{},
	}
	cp.main = filename
	f, ok := cp.parse(filename, src)
	if !ok {
		return nil, cp.sorted(), cp.ioErr
	}
	if namedInUBFDialect(f) {
		// ubf's nonempty_string() is [char()]+, like its string().
		cp.types["nonempty_string"].Type.(*Predef).Attrs |= CodeList
	}
	cp.suppressions(filename, f.Comments)
	// A types file that imports the contract itself must not define its
	// types a second time.
	cp.imported[filepath.Clean(filename)] = true
	for _, tf := range opts.TypeFiles {
		cp.importFile(tf, Pos{File: filename})
	}
	cp.imports(f, filename)
	cp.declareTypes(f, false)
	cp.compileTypes()
	c := cp.build(f, filename, opts)
	cp.checkTypes()
	cp.checkVars()
	cp.checkDuplicateRules(c)
	if !cp.diags.HasErrors() {
		cp.warnings(c)
		cp.checkNoStates(c, f)
	}
	cp.filterFindings(opts.Disable)
	diags := cp.sorted()
	if diags.HasErrors() {
		return nil, diags, cp.ioErr
	}
	return c, diags, cp.ioErr
}

type typeSource struct {
	def    *TypeDef
	ubf    bool // defined in a UBF(B) +TYPES section
	syntax *grammar.Type
	file   string
	nameAt Pos
}

type stateInfo struct {
	state   *State
	section bool // defined by a UBF(B) +STATE section
}

type compiler struct {
	read  func(string) ([]byte, error)
	ioErr error
	diags Diagnostics
	main  string

	types    map[string]*TypeDef
	origin   map[string]*typeSource // user and imported definitions
	order    []string               // user and imported type names in definition order
	imported map[string]bool        // files already imported (cleaned paths)

	states     map[string]*stateInfo
	stateOrder []*State
	refs       []*Ref
	redefs     []redef
	tails      []*TupleType // tails written as a named type, checked once names resolve

	vars     map[string]*varInfo
	varOrder []string // variable names by slot

	// builtinRedefs are definitions of predefined or built-in names,
	// accepted when they mean what the name means (checkBuiltinRedef).
	builtinRedefs []*typeSource

	// ubfDecl: the declaration being compiled is in the UBF(B) dialect,
	// where string() means what it means in ubf (CodeList).
	ubfDecl bool

	ignores []*suppression // ubfproxy:ignore comments (findings.go)
}

// reportf records a finding; its severity is its code's (codes.go).
func (cp *compiler) reportf(p Pos, code Code, format string, args ...any) {
	info, _ := code.Info()
	cp.diags = append(cp.diags, Diagnostic{Pos: p, Severity: info.Severity, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (cp *compiler) sorted() Diagnostics {
	ds := cp.diags
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			// Findings in the contract itself come first.
			if a.File == cp.main || b.File == cp.main {
				return a.File == cp.main
			}
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return ds
}

func (cp *compiler) pos(p grammar.Pos) Pos {
	return Pos{File: p.Filename, Line: p.Line, Column: p.Column}
}

func (cp *compiler) parse(filename string, src []byte) (*grammar.File, bool) {
	f, errs := grammar.ParseAll(filename, src)
	for _, ge := range errs {
		cp.reportf(Pos{File: filename, Line: ge.Pos.Line, Column: ge.Pos.Column}, CodeSyntax, "%s", ge.Msg)
	}

	return f, len(errs) == 0
}

// namedInUBFDialect reports whether f names itself in the UBF(B) dialect
// (+NAME or +VSN): the built-in types then mean what they mean in ubf.
func namedInUBFDialect(f *grammar.File) bool {
	for _, d := range f.Decls {
		if d.Meta != nil && (d.Meta.Key == "NAME" || d.Meta.Key == "VSN") {
			return true
		}
	}
	return false
}

// importFile makes the named types of another contract available.
func (cp *compiler) importFile(path string, at Pos) {
	key := filepath.Clean(path)
	if cp.imported[key] {
		return
	}
	cp.imported[key] = true
	src, err := cp.read(path)
	if err != nil {
		if cp.ioErr == nil {
			if at.Line > 0 {
				// Name the +import, possibly in another imported file.
				cp.ioErr = fmt.Errorf("%s: reading types from %s: %w", at, path, err)
			} else {
				cp.ioErr = fmt.Errorf("reading types from %s: %w", path, err)
			}
		}
		cp.reportf(at, CodeImport, "cannot read types from %s: %v", path, unwrapPathError(err))
		return
	}
	f, ok := cp.parse(path, src)
	if !ok {
		return
	}
	cp.suppressions(path, f.Comments)
	cp.imports(f, path)
	cp.declareTypes(f, true)
}

// imports follows the +import declarations of f, whose paths are relative
// to the directory of the file that names them.
func (cp *compiler) imports(f *grammar.File, path string) {
	for _, d := range f.Decls {
		if d.Meta == nil || d.Meta.Key != "import" {
			continue
		}
		s, ok := cp.unquoteString(d.Meta.Value, d.Meta.Pos)
		if !ok {
			continue
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(filepath.Dir(path), s)
		}
		cp.importFile(s, cp.pos(d.Meta.Pos))
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (cp *compiler) reported(p Pos, code Code) bool {
	for _, d := range cp.diags {
		if d.Pos == p && d.Code == code {
			return true
		}
	}
	return false
}

func (cp *compiler) nameOr(name, filename string) string {
	if name != "" {
		return name
	}
	base := filepath.Base(filename)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// resolveLate resolves Refs created after compileTypes ran.
func (cp *compiler) resolveLate() {
	for _, ref := range cp.refs {
		if ref.Def != nil {
			continue
		}
		if def, ok := cp.types[ref.Name]; ok {
			ref.Def = def
			continue
		}
		if cp.reported(ref.Pos, CodeUnknownType) {
			continue
		}
		msg := fmt.Sprintf("type %s() is not defined", ref.Name)
		if s := suggest(ref.Name, cp.typeNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %s()?)", s)
		}
		cp.reportf(ref.Pos, CodeUnknownType, "%s", msg)
	}
}
