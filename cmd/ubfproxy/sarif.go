package main

import (
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ubfproxy/ubfproxy/contract"
)

// SARIF 2.1.0 output of check, the subset GitHub code scanning and other
// SARIF viewers read: one run, the tool with one rule per diagnostic code
// (contract.Codes: description, help and default level),
// one result per finding with its physical location.
//
// Reference: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
// and GitHub's "SARIF support for code scanning".

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	projectURI   = "https://github.com/ubfproxy/ubfproxy"
	// srcRoot is the base of relative artifact URIs: the folder check ran
	// in, which in CI is the repository's root.
	srcRoot = "%SRCROOT%"
)

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool     `json:"tool"`
	ColumnKind  string        `json:"columnKind"`
	Results     []sarifResult `json:"results"`
	Invocations []sarifInvoc  `json:"invocations"`
}

type sarifInvoc struct {
	ExecutionSuccessful bool `json:"executionSuccessful"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	ShortDescription     sarifMessage  `json:"shortDescription"`
	Help                 sarifMessage  `json:"help"`
	HelpURI              string        `json:"helpUri"`
	DefaultConfiguration sarifRuleConf `json:"defaultConfiguration"`
}

type sarifRuleConf struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// writeSARIF writes findings as a SARIF 2.1.0 log; complete is false when
// some contract could not be read, so that viewers do not take the log for
// a full analysis.
func writeSARIF(w io.Writer, findings []finding, complete bool) error {
	return writeSARIFFor(w, findings, complete, "check")
}

// writeSARIFFor is writeSARIF with the rules of command's codes.
func writeSARIFFor(w io.Writer, findings []finding, complete bool, command string) error {
	log := sarifLog{
		Version: sarifVersion,
		Schema:  sarifSchema,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name:           "ubfproxy",
				Version:        shortVersion(),
				InformationURI: projectURI,
				Rules:          []sarifRule{},
			}},
			// SARIF's default unit; the compiler counts bytes, so columns
			// are converted below for lines that are not plain ASCII.
			ColumnKind:  "utf16CodeUnits",
			Results:     []sarifResult{},
			Invocations: []sarifInvoc{{ExecutionSuccessful: complete}},
		}},
	}
	run := &log.Runs[0]

	// Every code the compiler reports is a rule, in the order of
	// contract.Codes, so that rule indexes do not depend on the findings.
	index := make(map[contract.Code]int)
	for _, ci := range contract.Codes() {
		if ci.Command() != command {
			continue
		}
		index[ci.Code] = len(run.Tool.Driver.Rules)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID:                   string(ci.Code),
			Name:                 ruleName(string(ci.Code)),
			ShortDescription:     sarifMessage{Text: ci.Short},
			Help:                 sarifMessage{Text: ci.Help},
			HelpURI:              helpURI(ci.Code),
			DefaultConfiguration: sarifRuleConf{Level: sarifLevel(ci.Severity)},
		})
	}

	lines := newLineCache()
	for _, f := range findings {
		loc := sarifPhysical{ArtifactLocation: artifactLocation(f.File)}
		if f.Line > 0 {
			loc.Region = &sarifRegion{
				StartLine:   f.Line,
				StartColumn: lines.utf16Column(f.File, f.Line, f.Column),
			}
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:    string(f.Code),
			RuleIndex: index[f.Code],
			Level:     sarifLevel(f.severity()),
			Message:   sarifMessage{Text: f.Message},
			Locations: []sarifLocation{{PhysicalLocation: loc}},
		})
	}
	return writeJSON(w, log)
}

func sarifLevel(s contract.Severity) string {
	if s == contract.Error {
		return "error"
	}
	return "warning"
}

// ruleName turns a code such as "unknown-state" into the PascalCase name
// SARIF viewers show ("UnknownState").
func ruleName(code string) string {
	var b strings.Builder
	for _, part := range strings.Split(code, "-") {
		r, size := utf8.DecodeRuneInString(part)
		b.WriteString(strings.ToUpper(string(r)))
		b.WriteString(part[size:])
	}
	return b.String()
}

// helpURI is the page of the repository's documentation that explains a
// code: what it means, an example, how to fix or allow it.
func helpURI(code contract.Code) string {
	return projectURI + "/blob/main/docs/codes/" + url.PathEscape(string(code)) + ".md"
}

// artifactLocation names a file as SARIF wants it: a URI relative to the
// folder check ran in when possible (GitHub resolves those against the
// repository), an absolute file URI otherwise.
func artifactLocation(file string) sarifArtifact {
	p := file
	if filepath.IsAbs(p) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, p); err == nil && filepath.IsLocal(rel) {
				p = rel
			}
		}
	}
	if filepath.IsAbs(p) {
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(p)}
		if !strings.HasPrefix(u.Path, "/") { // Windows drive letters
			u.Path = "/" + u.Path
		}
		return sarifArtifact{URI: u.String()}
	}
	p = filepath.ToSlash(filepath.Clean(p))
	u := url.URL{Path: p}
	return sarifArtifact{URI: u.EscapedPath(), URIBaseID: srcRoot}
}

// lineCache reads each reported file once to convert byte columns into
// UTF-16 code units.
type lineCache struct {
	files map[string][]string
}

func newLineCache() *lineCache { return &lineCache{files: make(map[string][]string)} }

func (c *lineCache) utf16Column(file string, line, col int) int {
	if col <= 1 {
		return col
	}
	lines, ok := c.files[file]
	if !ok {
		if src, err := os.ReadFile(file); err == nil {
			lines = strings.Split(string(src), "\n")
		}
		c.files[file] = lines
	}
	if line < 1 || line > len(lines) {
		return col
	}
	text := lines[line-1]
	if col-1 > len(text) {
		return col
	}
	units := 0
	for _, r := range text[:col-1] {
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	return units + 1
}
