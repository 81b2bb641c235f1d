package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// The pages under docs/ quote example files and show commands with their
// output. These tests keep them true:
//
//   - every contract under docs/examples passes `check --strict` (except the
//     code examples, which must trigger their code);
//   - every trace under docs/examples conforms to the contract its
//     "# contract:" line names, and every trace under a folder named broken
//     breaks it;
//   - a fenced block after <!-- file: PATH --> is that file, byte for byte
//     (PATH is relative to the page), and every example file is quoted or
//     named by some page;
//   - a fenced block after <!-- run --> (or <!-- run: exit N -->) starts
//     with "$ ubfproxy ARGS", run from the repository's root, and the rest
//     of the block is what it prints on standard output.
//
// Run from cmd/ubfproxy, so the repository's root is two folders up.
const repoRoot = "../.."

// docsRoot is the documentation folder, relative to the repository's root.
const docsRoot = "docs"

// codesExamples holds one contract per diagnostic code, each triggering it.
const codesExamples = "docs/examples/codes"

// commandLine is how an example contract says that check needs more than
// its own path (a --types library): the comment gives the whole command.
var commandLine = regexp.MustCompile(`(?m)^%+ (ubfproxy check .+)$`)

func TestDocsExampleContracts(t *testing.T) {
	t.Chdir(repoRoot)
	forEachExample(t, ".con", []string{codesExamples}, func(t *testing.T, file string, src []byte) {
		args := []string{"check", "--strict", file}
		if m := commandLine.FindSubmatch(src); m != nil {
			args = append(strings.Fields(string(m[1]))[1:], "--strict")
			if !slices.Contains(args, file) {
				t.Fatalf("%s gives the command %q, which does not name the file itself", file, m[1])
			}
		}
		if r := runUbfproxy(t, "", args...); r.code != exitOK || r.stdout != "" {
			t.Errorf("ubfproxy %s:\n%s", strings.Join(args, " "), r)
		}
	})
}

// forEachExample runs fn in a subtest for every file under docs/examples
// whose name ends in ext, except those under the folders in skip, with the
// file's content. It fails when there is no such file.
func forEachExample(t *testing.T, ext string, skip []string, fn func(t *testing.T, file string, src []byte)) {
	t.Helper()
	files := exampleFiles(t, ext)
	if len(files) == 0 {
		t.Fatalf("no %s files under docs/examples", ext)
	}
	for _, file := range files {
		if slices.ContainsFunc(skip, func(dir string) bool { return under(file, dir) }) {
			continue
		}
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, file, src)
		})
	}
}

// traceContract finds the "# contract: FILE" line of a trace; FILE is
// relative to the trace.
var traceContract = regexp.MustCompile(`(?m)^# contract: (\S+)\s*$`)

func TestDocsExampleTraces(t *testing.T) {
	t.Chdir(repoRoot)
	forEachExample(t, ".trace", nil, func(t *testing.T, trace string, src []byte) {
		m := traceContract.FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s has no \"# contract: FILE\" line", trace)
		}
		con := filepath.Join(filepath.Dir(trace), string(m[1]))
		want := exitOK
		if filepath.Base(filepath.Dir(trace)) == "broken" {
			want = exitViolation
		}
		if r := runUbfproxy(t, "", "replay", "--contract", con, trace); r.code != want {
			t.Errorf("replay --contract %s %s: want exit %d, got\n%s", con, trace, want, r)
		}
	})
}

// TestDocsCodeExamples checks that the example of each code's page triggers
// that code.
func TestDocsCodeExamples(t *testing.T) {
	t.Chdir(repoRoot)
	for _, code := range diagnosticCodes(t) {
		t.Run(code, func(t *testing.T) {
			if info, _ := contract.Code(code).Info(); info.Command() == "breaking" {
				breakingCodeExample(t, code)
				return
			}
			file := filepath.Join(codesExamples, code+".con")
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("code %s has no example: %v", code, err)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// A contract read by path and one read from standard input may
			// be reported differently (an unreadable +import stops the
			// first and is a finding of the second); either counts.
			var codes []string
			var out strings.Builder
			for _, in := range []struct{ stdin, arg string }{{"", file}, {string(src), "-"}} {
				r := runUbfproxy(t, in.stdin, "check", "--strict", "--format", "json", in.arg)
				out.WriteString(r.String())
				var got []finding
				if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
					t.Fatalf("check --format json %s: %v\n%s", in.arg, err, r)
				}
				for _, f := range got {
					codes = append(codes, string(f.Code))
				}
			}
			if !slices.Contains(codes, code) {
				t.Errorf("%s does not trigger %s; check reports %v\n%s", file, code, codes, &out)
			}
		})
	}
}

// breakingCodeExample checks that the two versions of a code of breaking,
// CODE.old.con and CODE.new.con, make breaking report it.
func breakingCodeExample(t *testing.T, code string) {
	t.Helper()
	base := filepath.Join(codesExamples, code)
	r := runUbfproxy(t, "", "breaking", "--format", "json", base+".old.con", base+".new.con")
	var got []comparison
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("breaking --format json %s.{old,new}.con: %v\n%s", base, err, r)
	}
	for _, c := range got {
		for _, f := range c.Findings {
			if string(f.Code) == code {
				return
			}
		}
	}
	t.Errorf("%s.old.con and %s.new.con do not make breaking report %s\n%s", base, base, code, r)
}

// TestDocsCodePages keeps docs/codes in step with the codes check emits:
// one page per code, and no page for a code that does not exist.
func TestDocsCodePages(t *testing.T) {
	t.Chdir(repoRoot)
	codes := diagnosticCodes(t)
	pages, err := filepath.Glob(filepath.Join(docsRoot, "codes", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range pages {
		name := strings.TrimSuffix(filepath.Base(p), ".md")
		if name == "README" {
			continue
		}
		have[name] = true
		if !slices.Contains(codes, name) {
			t.Errorf("%s documents a code check never emits (remove the page, or the code is misspelled)", p)
		}
	}
	index, err := os.ReadFile(filepath.Join(docsRoot, "codes", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	language, err := os.ReadFile(filepath.Join(docsRoot, "language.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range contract.Codes() {
		code := string(ci.Code)
		if !have[code] {
			t.Errorf("code %s has no page: write docs/codes/%s.md (what it means, an example, how to fix it)", code, code)
		}
		if !strings.Contains(string(language), "(codes/"+code+".md)") {
			t.Errorf("docs/language.md (section 6, what check reports) does not link to codes/%s.md", code)
		}
		// The index lists errors, then warnings under "## Warnings".
		at := strings.Index(string(index), "("+code+".md)")
		warnings := strings.Index(string(index), "\n## Warnings\n")
		switch {
		case at < 0:
			t.Errorf("docs/codes/README.md does not link to %s.md", code)
		case warnings < 0:
			t.Errorf("docs/codes/README.md has no \"## Warnings\" section")
		case (at > warnings) != (ci.Severity == contract.Warning):
			t.Errorf("docs/codes/README.md lists %s (%s) in the wrong section", code, ci.Severity)
		}
		if page, err := os.ReadFile(filepath.Join(docsRoot, "codes", code+".md")); err == nil {
			if title := fmt.Sprintf("# `%s` (%s)\n", code, ci.Severity); !strings.HasPrefix(string(page), title) {
				t.Errorf("docs/codes/%s.md does not start with %q: the page must say the code's severity", code, title)
			}
		}
	}
}

// diagnosticCodes returns the codes check can report, from the
// compiler's table.
func diagnosticCodes(t *testing.T) []string {
	t.Helper()
	var codes []string
	for _, ci := range contract.Codes() {
		codes = append(codes, string(ci.Code))
	}
	if len(codes) == 0 {
		t.Fatal("contract.Codes() is empty")
	}
	return codes
}

// TestDocsQuotesAndRuns checks the <!-- file: --> and <!-- run --> blocks
// of every page, and that every example file is used by some page.
func TestDocsQuotesAndRuns(t *testing.T) {
	t.Chdir(repoRoot)
	used := map[string]bool{}
	var pages []string
	err := filepath.WalkDir(docsRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, page := range pages {
		blocks := markedBlocks(t, page)
		src, _ := os.ReadFile(page)
		all.Write(src)
		for _, b := range blocks {
			switch {
			case b.file != "":
				file := filepath.Join(filepath.Dir(page), b.file)
				used[file] = true
				want, err := os.ReadFile(file)
				if err != nil {
					t.Errorf("%s:%d: quotes %s: %v", page, b.line, b.file, err)
					continue
				}
				// RESP and SMTP examples end their lines with CRLF; a page
				// shows them without the CR.
				if got, w := b.body, strings.ReplaceAll(string(want), "\r\n", "\n"); got != w {
					t.Errorf("%s:%d: the block is not %s:\n--- block ---\n%s--- file ---\n%s", page, b.line, file, got, w)
				}
			case b.run:
				cmd, out, _ := strings.Cut(b.body, "\n")
				args, ok := strings.CutPrefix(cmd, "$ ubfproxy ")
				if !ok {
					t.Errorf("%s:%d: a run block starts with \"$ ubfproxy ...\", not %q", page, b.line, cmd)
					continue
				}
				fields := strings.Fields(args)
				for _, f := range fields {
					if under(f, docsRoot) {
						used[filepath.Clean(f)] = true
					}
				}
				r := runUbfproxy(t, "", fields...)
				if r.code != b.exit || r.stdout != out {
					t.Errorf("%s:%d: $ ubfproxy %s\nwant exit %d and\n%s\ngot %s", page, b.line, args, b.exit, out, r)
				}
			}
		}
	}
	// An example file that no page uses is either forgotten in the pages or
	// dead; a page may also just name it (a --types library, a trace).
	for _, file := range exampleFiles(t, "") {
		if !used[file] && !strings.Contains(all.String(), strings.TrimPrefix(file, docsRoot+"/")) {
			t.Errorf("%s is used by no page under docs/", file)
		}
	}
}

// block is one fenced code block marked by a comment on the line before it.
type block struct {
	line int    // of the opening fence
	file string // <!-- file: PATH -->
	run  bool   // <!-- run --> or <!-- run: exit N -->
	exit int
	body string // the lines between the fences, each ending in a newline
}

var (
	fileMark = regexp.MustCompile(`^<!-- file: (\S+) -->$`)
	runMark  = regexp.MustCompile(`^<!-- run(?:: exit (\d+))? -->$`)
)

// markedBlocks returns the marked fenced blocks of a page. A mark must be
// followed by a fence on the next line.
func markedBlocks(t *testing.T, page string) []block {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks  []block
		cur     *block
		pending *block
		n       int
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil:
			if line == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.body += line + "\n"
		case pending != nil:
			if !strings.HasPrefix(line, "```") {
				t.Errorf("%s:%d: a <!-- file --> or <!-- run --> mark must be followed by a fenced block", page, n)
				pending = nil
				continue
			}
			pending.line = n
			cur, pending = pending, nil
		default:
			if m := fileMark.FindStringSubmatch(line); m != nil {
				pending = &block{file: m[1]}
			} else if m := runMark.FindStringSubmatch(line); m != nil {
				pending = &block{run: true}
				if m[1] != "" {
					pending.exit, _ = strconv.Atoi(m[1])
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil || pending != nil {
		t.Errorf("%s: a marked block is not closed", page)
	}
	return blocks
}

// exampleFiles lists the files under docs/examples ending in ext ("" for
// all), relative to the repository's root.
func exampleFiles(t *testing.T, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(docsRoot, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ext) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return err == nil && filepath.IsLocal(rel)
}

// mdLink finds the target of a Markdown link or image: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsLinks checks every link of the pages under docs/ and of the
// README: a link leads to a file of the repository (and, with #anchor, to
// a heading of that page), never outside it.
func TestDocsLinks(t *testing.T) {
	t.Chdir(repoRoot)
	pages := []string{"README.md"}
	err := filepath.WalkDir(docsRoot, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]map[string]bool{}
	for _, page := range pages {
		src, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(string(src)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				t.Errorf("%s: links outside the repository: %s", page, target)
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			if !filepath.IsLocal(path) {
				t.Errorf("%s: %s leads outside the repository", page, target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: broken link %s: %v", page, target, err)
				continue
			}
			if anchor == "" {
				continue
			}
			if anchors[path] == nil {
				anchors[path] = headingAnchors(t, path)
			}
			if !anchors[path][anchor] {
				t.Errorf("%s: %s: %s has no heading with the anchor #%s", page, target, path, anchor)
			}
		}
	}
}

// stripCode removes fenced blocks and inline code, whose brackets are not
// links.
func stripCode(s string) string {
	var out strings.Builder
	fenced := false
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out.WriteString(inlineCode.ReplaceAllString(line, ""))
		}
	}
	return out.String()
}

var inlineCode = regexp.MustCompile("`[^`]*`")

// headingAnchors returns the anchors GitHub gives the headings of a page:
// lower case, punctuation other than - and _ dropped, spaces as -, and -1,
// -2 ... after repeated ones.
func headingAnchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	anchors := map[string]bool{}
	fenced := false
	for line := range strings.Lines(string(src)) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// TestDocsSARIFHelp checks that the helpUri of every SARIF rule names the
// code's page under docs/codes, and that the page exists.
func TestDocsSARIFHelp(t *testing.T) {
	t.Chdir(repoRoot)
	r := runUbfproxy(t, "", "check", "--format", "sarif", codesExamples)
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil || len(log.Runs) != 1 {
		t.Fatalf("check --format sarif %s: %v\n%s", codesExamples, err, r)
	}
	rules := log.Runs[0].Tool.Driver.Rules
	if len(rules) < 10 {
		t.Fatalf("only %d rules in the SARIF log of every code's example", len(rules))
	}
	for _, rule := range rules {
		page := "docs/codes/" + rule.ID + ".md"
		if !strings.HasSuffix(rule.HelpURI, "/"+page) {
			t.Errorf("rule %s: helpUri %q, want one ending in /%s", rule.ID, rule.HelpURI, page)
		}
		if _, err := os.Stat(page); err != nil {
			t.Errorf("rule %s: %v", rule.ID, err)
		}
	}
}

// TestDocsErrorReplies keeps the error replies the wire pages show true:
// docs/examples/wires/<wire>/error-reply.<ext> is what that wire sends for
// two typical violations, one by each side (rewrite with -update).
func TestDocsErrorReplies(t *testing.T) {
	t.Chdir(repoRoot)
	expected := []string{"{read_line, fileHandle()}", "{close, fileHandle()}", "{rewind, fileHandle()}", "info"}
	violations := []wrappers.Violation{{
		Side:        wrappers.Client,
		Message:     term.MustParse(`{read_line, "7"}`),
		States:      []string{"ready"},
		Expected:    expected,
		Explanation: `element 2 of {read_line, "7"}: expected fileHandle() = integer(), got "7"`,
	}, {
		Side:        wrappers.Server,
		Message:     term.MustParse(`{ok, "7"}`),
		Request:     term.MustParse(`{open, "notes.txt", read}`),
		States:      []string{"start"},
		Expected:    []string{"{ok, fileHandle()}", "{error, string()}"},
		Explanation: `element 2 of {ok, "7"}: expected fileHandle() = integer(), got "7"`,
	}}
	for _, file := range []string{"ubf/error-reply.ubf", "json/error-reply.ndjson", "resp/error-reply.resp"} {
		name, _, _ := strings.Cut(file, "/")
		sess := proxyWires[name].NewSession(wrappers.Options{})
		var got []byte
		for _, v := range violations {
			got = append(got, sess.ErrorReply(v)...)
		}
		golden.Check(t, filepath.Join(docsRoot, "examples", "wires", file), got)
	}
}
