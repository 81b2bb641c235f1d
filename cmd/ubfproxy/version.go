package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary and how it was built",
		Long: `version prints the module version of the binary, the commit it was built from
(with the commit time and whether the working tree had local changes), and
the Go version and platform. The facts come from the build information the Go
toolchain embeds; a binary built with -buildvcs=false or by "go run" outside a
repository has no commit, and says so. "ubfproxy --version" prints the first
line only.`,
		Example: `  ubfproxy version
  ubfproxy --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, _ := debug.ReadBuildInfo()
			writeVersion(cmd.OutOrStdout(), info)
			return nil
		},
	}
}

// buildFacts are the parts of the build information version prints.
type buildFacts struct {
	version  string // module version, "(devel)" for a build from a checkout
	revision string
	time     string
	modified bool
}

func readBuildFacts(info *debug.BuildInfo) buildFacts {
	f := buildFacts{version: "(devel)"}
	if info == nil {
		return f
	}
	if v := info.Main.Version; v != "" {
		f.version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			f.revision = s.Value
		case "vcs.time":
			f.time = s.Value
		case "vcs.modified":
			f.modified = s.Value == "true"
		}
	}
	return f
}

// versionLine is the one-line form: version, short commit, dirty mark.
func (f buildFacts) versionLine() string {
	s := f.version
	if f.revision != "" {
		s += " (" + shortRevision(f.revision)
		if f.modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func shortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// writeVersion prints the full version report.
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	f := readBuildFacts(info)
	var b strings.Builder
	fmt.Fprintf(&b, "ubfproxy %s\n", f.version)
	if f.revision != "" {
		state := "clean"
		if f.modified {
			state = "modified"
		}
		fmt.Fprintf(&b, "  commit  %s (%s)\n", f.revision, state)
		if f.time != "" {
			fmt.Fprintf(&b, "  date    %s\n", f.time)
		}
	} else {
		fmt.Fprintf(&b, "  commit  unknown (built without version control information)\n")
	}
	goVersion := runtime.Version()
	if info != nil && info.GoVersion != "" {
		goVersion = info.GoVersion
	}
	fmt.Fprintf(&b, "  go      %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	io.WriteString(w, b.String())
}

// shortVersion is the version shown by --version and in SARIF output.
func shortVersion() string {
	info, _ := debug.ReadBuildInfo()
	return readBuildFacts(info).versionLine()
}
