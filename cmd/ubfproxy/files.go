package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
)

// contractExt is the extension of contract files looked for below folders.
const contractExt = ".con"

// expandPaths turns the PATH... arguments of a command into a list of files:
// a file argument stands for itself, whatever its extension (the user named
// it), and a folder stands for every *.con file below it, in lexical order.
// Folders whose name starts with a dot (.git, .cache) are skipped below a
// named folder, as go and gofmt do. A file reached twice is listed once.
//
// A missing or unreadable argument, or a folder without any contract, is an
// error naming the path: a CI job pointed at the wrong place must not pass by
// checking nothing.
func expandPaths(args []string) ([]string, error) {
	var files []string
	seen := make(map[string]bool)
	add := func(p string) {
		key := filepath.Clean(p)
		if seen[key] {
			return
		}
		seen[key] = true
		files = append(files, p)
	}
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, describePathError(arg, err)
		}
		if !info.IsDir() {
			add(arg)
			continue
		}
		found, err := filesBelow(arg, contractExt)
		if err != nil {
			return nil, err
		}
		for _, p := range found {
			add(p)
		}
	}
	return files, nil
}

// filesBelow lists the regular files below the folder arg whose name ends
// in ext, in lexical order, skipping folders whose name starts with a dot.
// A folder without any is an error naming it.
func filesBelow(arg, ext string) ([]string, error) {
	// WalkDir does not follow a symbolic link at its root; a trailing
	// separator makes the link resolve, and the paths it produces are
	// still spelt from the argument.
	root := arg
	if li, err := os.Lstat(arg); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		root = arg + string(filepath.Separator)
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return describePathError(p, err)
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ext) && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *%s files in this folder or below", arg, ext)
	}
	return files, nil
}

// loadContract compiles the contract a command works with: unreadable
// files and a contract with errors (printed on stderr) are usage errors
// naming the command.
func loadContract(stderr io.Writer, cmd, file string, types []string) (*contract.Contract, error) {
	if err := checkReadable(append([]string{file}, types...)); err != nil {
		return nil, usageErrorf("%s: %v", cmd, err)
	}
	c, diags, err := contract.Load(file, contract.Options{TypeFiles: types})
	if err != nil {
		return nil, usageErrorf("%s: %v", cmd, err)
	}
	if c == nil || diags.HasErrors() {
		printDiagnostics(stderr, diags)
		return nil, usageErrorf("%s: %s has errors; see ubfproxy check %s", cmd, file, file)
	}
	return c, nil
}

// describePathError words a file system error for a user: the path first,
// then what is wrong with it, without Go's "stat"/"open" prefixes.
func describePathError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file or folder", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied", path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// withFlagHint makes a bad flag a usage error (exit 2) that names the
// command and where to read about its flags.
func withFlagHint(cmd *cobra.Command) *cobra.Command {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%s: %v (see: ubfproxy %s --help)", c.Name(), err, c.Name())
	})
	return cmd
}
