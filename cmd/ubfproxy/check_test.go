package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/golden"
)

const checkData = "testdata/check"

// checkStdin is the contract "check -" reads in the golden tests.
const checkStdin = "+state idle x ping -> pong x runing.\n+state running x stop -> ok x stop.\n"

func TestCheckGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"clean", []string{"check", checkData + "/ok.con"}, 0},
		{"typo", []string{"check", checkData + "/typo.con"}, 1},
		{"warning", []string{"check", checkData + "/warn.con"}, 0},
		{"warning_strict", []string{"check", "--strict", checkData + "/warn.con"}, 1},
		{"syntax", []string{"check", checkData + "/syntax.con"}, 1},
		{"undefined", []string{"check", checkData + "/undefined.con"}, 1},
		{"folder", []string{"check", checkData + "/folder"}, 1},
		{"several", []string{"check", checkData + "/ok.con", checkData + "/warn.con"}, 0},
		{"types_missing", []string{"check", checkData + "/types/service.con"}, 1},
		{"types", []string{"check", "--types", checkData + "/types/shared.con", checkData + "/types/service.con"}, 0},
		{"types_broken", []string{"check", "--types", checkData + "/types/broken.con", checkData + "/types/service.con", checkData + "/types/client.con"}, 1},
		{"stdin", []string{"check", "-", checkData + "/ok.con"}, 1},
		{"json", []string{"check", "--format", "json", checkData + "/typo.con", checkData + "/warn.con"}, 1},
		{"json_clean", []string{"check", "--format", "json", checkData + "/ok.con"}, 0},
		{"missing_file", []string{"check", checkData + "/nonexistent.con"}, 2},
		{"import_missing", []string{"check", checkData + "/import_missing.con", checkData + "/ok.con"}, 1},
		{"import_missing_json", []string{"check", "--format", "json", checkData + "/import_missing.con"}, 1},
		{"import_missing_sarif", []string{"check", "--format", "sarif", checkData + "/import_missing.con"}, 1},
		{"missing_types", []string{"check", "--types", checkData + "/nonexistent.con", checkData + "/ok.con"}, 1},
		{"missing_types_json", []string{"check", "--format", "json", "--types", checkData + "/nonexistent.con", checkData + "/ok.con"}, 1},
		{"duplicate", []string{"check", checkData + "/duplicate.con"}, 1},
		{"empty", []string{"check", checkData + "/empty.con"}, 0},
		{"empty_strict", []string{"check", "--strict", checkData + "/empty.con"}, 1},
		{"typos", []string{"check", checkData + "/typos.con"}, 1},
		{"keyword", []string{"check", checkData + "/keyword.con"}, 1},
		{"suppress", []string{"check", "--strict", checkData + "/suppress.con"}, 1},
		{"suppress_json", []string{"check", "--format", "json", checkData + "/suppress.con"}, 0},
		{"disable", []string{"check", "--strict", "--disable", "overlapping-rules,unused-suppression", checkData + "/suppress.con"}, 0},
		{"disable_twice", []string{"check", "--strict", "--disable", "overlapping-rules", "--disable", "unused-suppression", checkData + "/suppress.con", checkData + "/warn.con"}, 1},
		{"disable_unknown", []string{"check", "--disable", "overlaping-rules", checkData + "/ok.con"}, 2},
		{"disable_error", []string{"check", "--disable", "unknown-state", checkData + "/ok.con"}, 2},
		{"empty_folder", []string{"check", checkData + "/nocontracts"}, 2},
		{"bad_format", []string{"check", "--format", "xml", checkData + "/ok.con"}, 2},
		{"no_args", []string{"check"}, 2},
		{"unknown_flag", []string{"check", "--nope", checkData + "/ok.con"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runUbfproxy(t, checkStdin, tt.args...)
			if res.code != tt.code {
				t.Errorf("exit status %d, want %d\n%s", res.code, tt.code, res)
			}
			golden.Check(t, filepath.Join(checkData, tt.name+".golden"), []byte(res.String()))
		})
	}
}

// TestCheckTypoSuggestion is the acceptance test of issue 2: a misspelt state
// fails with one line naming the file, line, column, the unknown state and
// the closest defined one.
func TestCheckTypoSuggestion(t *testing.T) {
	res := runUbfproxy(t, "", "check", checkData+"/typo.con")
	if res.code != exitViolation {
		t.Fatalf("exit status %d, want 1\n%s", res.code, res)
	}
	line := regexp.MustCompile(`(?m)^testdata/check/typo\.con:4:(\d+): error: .*$`).FindString(res.stdout)
	if line == "" {
		t.Fatalf("no error line for typo.con:4 in\n%s", res.stdout)
	}
	for _, want := range []string{"runing", "did you mean running?"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line %q does not mention %q", line, want)
		}
	}
	// The column points at the misspelt name.
	src, err := os.ReadFile(checkData + "/typo.con")
	if err != nil {
		t.Fatal(err)
	}
	col := strings.Index(strings.Split(string(src), "\n")[3], "runing") + 1
	if !strings.HasPrefix(line, "testdata/check/typo.con:4:"+strconv.Itoa(col)+":") {
		t.Errorf("error line %q: want column %d, where runing starts", line, col)
	}
}

func TestCheckFolderOrderAndSkips(t *testing.T) {
	files, err := expandPaths([]string{checkData + "/folder"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{checkData + "/folder/a.con", checkData + "/folder/sub/b.con"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("expandPaths = %v, want %v (sorted, *.con only, hidden folders skipped)", files, want)
	}
	// Files named twice, or inside a named folder too, are checked once;
	// a file named explicitly is taken whatever its extension.
	files, err = expandPaths([]string{checkData + "/folder/a.con", checkData + "/folder", checkData + "/folder/notes.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{checkData + "/folder/a.con", checkData + "/folder/sub/b.con", checkData + "/folder/notes.txt"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("expandPaths = %v, want %v", files, want)
	}
}

func TestCheckJSONFields(t *testing.T) {
	res := runUbfproxy(t, "", "check", "--format", "json", checkData+"/typo.con", checkData+"/warn.con")
	if res.code != exitViolation {
		t.Fatalf("exit status %d, want 1\n%s", res.code, res)
	}
	var findings []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &findings); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, res.stdout)
	}
	sev := map[string]int{}
	for _, f := range findings {
		for _, k := range []string{"file", "line", "column", "severity", "code", "message"} {
			if _, ok := f[k]; !ok {
				t.Errorf("finding %v has no %q", f, k)
			}
		}
		if f["code"] == "" || f["message"] == "" {
			t.Errorf("finding %v has an empty code or message", f)
		}
		if line, _ := f["line"].(float64); line < 1 {
			t.Errorf("finding %v has no line", f)
		}
		sev[f["severity"].(string)]++
	}
	if sev["error"] == 0 || sev["warning"] == 0 {
		t.Errorf("want errors from typo.con and warnings from warn.con, got %v", sev)
	}
	if res.stderr != "" {
		t.Errorf("json mode wrote to stderr: %q", res.stderr)
	}

	res = runUbfproxy(t, "", "check", "--format", "json", checkData+"/ok.con")
	if strings.TrimSpace(res.stdout) != "[]" {
		t.Errorf("clean contract: json output %q, want []", res.stdout)
	}
}

func TestCheckSARIF(t *testing.T) {
	res := runUbfproxy(t, "", "check", "--format", "sarif", checkData+"/typo.con", checkData+"/warn.con", checkData+"/utf8.con")
	if res.code != exitViolation {
		t.Fatalf("exit status %d, want 1\n%s", res.code, res)
	}
	var log struct {
		Version string `json:"version"`
		Schema  string `json:"$schema"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					Version        string `json:"version"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, res.stdout)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif") || len(log.Runs) != 1 {
		t.Fatalf("not a SARIF 2.1.0 log with one run: version %q schema %q runs %d", log.Version, log.Schema, len(log.Runs))
	}
	r := log.Runs[0]
	d := r.Tool.Driver
	if d.Name != "ubfproxy" || d.Version == "" || !strings.HasPrefix(d.InformationURI, "https://") {
		t.Errorf("driver = %+v", d)
	}
	rules := map[string]int{}
	for i, rule := range d.Rules {
		if rule.ID == "" || rule.ShortDescription.Text == "" || rule.Help.Text == "" {
			t.Errorf("rule %d = %+v: empty id, description or help", i, rule)
		}
		rules[rule.ID] = i
	}
	levels := map[string]int{}
	var sawTypo, sawUTF8 bool
	for _, res := range r.Results {
		idx, ok := rules[res.RuleID]
		if !ok || idx != res.RuleIndex {
			t.Errorf("result %q: ruleId not among the rules, or ruleIndex %d wrong", res.RuleID, res.RuleIndex)
		}
		levels[res.Level]++
		if res.Message.Text == "" || len(res.Locations) != 1 {
			t.Errorf("result %+v: no message or not one location", res)
			continue
		}
		loc := res.Locations[0].PhysicalLocation
		if strings.HasPrefix(loc.ArtifactLocation.URI, "/") || !strings.HasPrefix(loc.ArtifactLocation.URI, "testdata/check/") {
			t.Errorf("uri %q: want a path relative to the working folder", loc.ArtifactLocation.URI)
		}
		if loc.Region.StartLine < 1 || loc.Region.StartColumn < 1 {
			t.Errorf("result %+v: region without line or column", res)
		}
		switch loc.ArtifactLocation.URI {
		case "testdata/check/typo.con":
			if loc.Region.StartLine == 4 && strings.Contains(res.Message.Text, "did you mean running?") {
				sawTypo = true
			}
		case "testdata/check/utf8.con":
			if strings.Contains(res.Message.Text, "nowhere") {
				sawUTF8 = true
				// The compiler counts bytes; SARIF counts UTF-16 units, and
				// "é" before the error is two bytes but one unit.
				text := runUbfproxy(t, "", "check", checkData+"/utf8.con").stdout
				m := regexp.MustCompile(`utf8\.con:2:(\d+):`).FindStringSubmatch(text)
				if m == nil {
					t.Fatalf("no error at line 2 of utf8.con in %q", text)
				}
				byteCol, _ := strconv.Atoi(m[1])
				src, _ := os.ReadFile(checkData + "/utf8.con")
				line := strings.Split(string(src), "\n")[1]
				want := len([]rune(line[:byteCol-1])) + 1
				if loc.Region.StartColumn != want || want == byteCol {
					t.Errorf("utf8.con: startColumn %d, want %d (UTF-16 units for byte column %d)", loc.Region.StartColumn, want, byteCol)
				}
			}
		}
	}
	if levels["error"] == 0 || levels["warning"] == 0 {
		t.Errorf("levels %v: want errors and warnings", levels)
	}
	if !sawTypo || !sawUTF8 {
		t.Errorf("missing results: typo %v, utf8 %v", sawTypo, sawUTF8)
	}

	// A clean run is still a valid log, with empty results.
	res = runUbfproxy(t, "", "check", "--format", "sarif", checkData+"/ok.con")
	if res.code != 0 || !strings.Contains(res.stdout, `"results": []`) {
		t.Errorf("clean run: exit %d, output\n%s", res.code, res.stdout)
	}
}

func TestCheckUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	// A link to nothing cannot be read by anyone, root included (CI runs
	// as root); a file without read permission only by others.
	dangling := filepath.Join(dir, "dangling.con")
	if err := os.Symlink(filepath.Join(dir, "missing.con"), dangling); err != nil {
		t.Fatal(err)
	}
	names := []string{dangling}
	if os.Getuid() != 0 {
		secret := filepath.Join(dir, "secret.con")
		if err := os.WriteFile(secret, []byte("+state a x b -> c x stop.\n"), 0); err != nil {
			t.Fatal(err)
		}
		names = append(names, secret)
	}
	for _, name := range names {
		res := runUbfproxy(t, "", "check", name)
		if res.code != exitUsage || !strings.Contains(res.stderr, name) {
			t.Errorf("unreadable %s: exit %d (want 2), stderr %q (want the file named)", name, res.code, res.stderr)
		}
	}
}

// TestCheckRepositoryContracts keeps the example contracts clean: every
// contract under contracts/ passes check --strict.
func TestCheckRepositoryContracts(t *testing.T) {
	res := runUbfproxy(t, "", "check", "--strict", "../../contracts")
	if res.code != 0 {
		t.Errorf("check --strict contracts/: exit %d\n%s", res.code, res)
	}
}

func TestCommandHelp(t *testing.T) {
	for _, name := range []string{"check", "fmt", "graph", "version"} {
		res := runUbfproxy(t, "", name, "--help")
		if res.code != 0 {
			t.Errorf("%s --help: exit %d", name, res.code)
		}
		if !strings.Contains(res.stdout, "Examples:") || !strings.Contains(res.stdout, "ubfproxy "+name) {
			t.Errorf("%s --help has no example:\n%s", name, res.stdout)
		}
	}
}

// TestExpandPathsSymlinkedFolder: a folder named through a symbolic link is
// searched, and the files are spelt through the link as the user wrote it.
func TestExpandPathsSymlinkedFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "real", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"real/a.con", "real/sub/b.con"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("+state a x b -> c x stop.\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	files, err := expandPaths([]string{link})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(link, "a.con"), filepath.Join(link, "sub", "b.con")}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("expandPaths(link) = %v, want %v", files, want)
	}
}

// TestREADMEContracts keeps the README honest: every complete contract it
// shows (a code block starting with +name or +NAME) compiles without
// findings and is in the canonical layout.
func TestREADMEContracts(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```\n(\\+(?:name|NAME)\\(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d contracts in README.md, want the file protocol and the UBF(B) example", len(blocks))
	}
	for i, b := range blocks {
		name := "README.md#" + strconv.Itoa(i+1)
		src := []byte(b[1])
		c, diags := contract.Compile(name, src, contract.Options{})
		if c == nil || len(diags) > 0 {
			t.Errorf("%s does not compile cleanly: %v\n%s", name, diags, src)
			continue
		}
		if out, _ := contract.Format(name, src); string(out) != string(src) {
			t.Errorf("%s is not in the canonical layout:\n%s", name, unifiedDiff(name, "formatted", src, out))
		}
	}
}
