package contract

import "fmt"

// Severity says whether a finding refuses the contract.
type Severity uint8

// Severities.
const (
	Error Severity = iota + 1
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one finding of the compiler: a syntax error, a semantic
// error, or a warning.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Code     Code // stable identifier, e.g. CodeUnknownState
	Message  string
}

// Error formats the finding as go vet does: file:line:col: error: message.
func (d Diagnostic) Error() string {
	return fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
}

// Diagnostics is a list of findings.
type Diagnostics []Diagnostic

// HasErrors reports whether any finding is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Options tune loading and compiling.
type Options struct {
	// TypeFiles are contracts whose named types become available, as if
	// defined in the contract (--types).
	TypeFiles []string
	// Initial overrides the initial state when non-empty.
	Initial string
	// Disable lists codes of warnings not to report (check --disable).
	// Errors cannot be disabled.
	Disable []Code
}
