package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionReport(t *testing.T) {
	tests := []struct {
		name      string
		info      *debug.BuildInfo
		want      []string
		wantShort string
	}{
		{
			name:      "no build information",
			info:      nil,
			want:      []string{"ubfproxy (devel)\n", "commit  unknown", "go      " + runtime.Version()},
			wantShort: "(devel)",
		},
		{
			name: "release",
			info: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/ubfproxy/ubfproxy", Version: "v1.2.3"},
				Settings: []debug.BuildSetting{
					{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
					{Key: "vcs.time", Value: "2026-11-23T12:00:00Z"},
					{Key: "vcs.modified", Value: "false"},
				},
			},
			want: []string{
				"ubfproxy v1.2.3\n",
				"commit  0123456789abcdef0123456789abcdef01234567 (clean)\n",
				"date    2026-11-23T12:00:00Z\n",
				"go      go1.26.0 " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
			},
			wantShort: "v1.2.3 (0123456789ab)",
		},
		{
			name: "local changes",
			info: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/ubfproxy/ubfproxy", Version: "(devel)"},
				Settings: []debug.BuildSetting{
					{Key: "vcs.revision", Value: "abc"},
					{Key: "vcs.modified", Value: "true"},
				},
			},
			want:      []string{"ubfproxy (devel)\n", "commit  abc (modified)\n"},
			wantShort: "(devel) (abc, modified)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeVersion(&buf, tt.info)
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("report does not contain %q:\n%s", w, buf.String())
				}
			}
			if got := readBuildFacts(tt.info).versionLine(); got != tt.wantShort {
				t.Errorf("short version %q, want %q", got, tt.wantShort)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	res := runUbfproxy(t, "", "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "ubfproxy ") || !strings.Contains(res.stdout, runtime.Version()) {
		t.Errorf("version: %s", res)
	}
	res = runUbfproxy(t, "", "--version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "ubfproxy ") || strings.Count(res.stdout, "\n") != 1 {
		t.Errorf("--version: want one line starting with ubfproxy, got %s", res)
	}
	if res := runUbfproxy(t, "", "version", "extra"); res.code != exitUsage {
		t.Errorf("version extra: exit %d, want 2", res.code)
	}
}
