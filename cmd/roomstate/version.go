package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/roomstate/roomstate/web"
)

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version",
		"Print the version of roomstate (its module version, stamped by go build or go install), the\n"+
			"commit it was built from and whether the tree had uncommitted changes, the Go version, and\n"+
			"the versions of the dashboard's libraries built into it.", "", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected argument %q", fs.Arg(0))
	}
	bi, _ := debug.ReadBuildInfo()
	libs, err := web.Libraries()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, versionText(bi, libs))
	return err
}

// versionText says what a build is, from its build information (nil when
// the binary has none) and its embedded libraries.
func versionText(bi *debug.BuildInfo, libs []web.Library) string {
	var b strings.Builder
	if bi == nil {
		b.WriteString("roomstate (devel): no build information\n")
	} else {
		set := map[string]string{}
		for _, s := range bi.Settings {
			set[s.Key] = s.Value
		}
		v := bi.Main.Version
		rev := set["vcs.revision"]
		switch {
		case v == "" || v == "(devel)":
			if rev == "" {
				v = "(devel): built without version control information (go run, -buildvcs=false,\n          outside a clone, or in a git worktree, which go build does not recognise)"
			} else {
				v = "(devel)"
			}
		case strings.HasSuffix(v, "+dirty"):
			v += " (uncommitted changes)"
		}
		fmt.Fprintf(&b, "roomstate %s\n", v)
		if rev != "" {
			fmt.Fprintf(&b, "commit    %s", rev)
			if t := set["vcs.time"]; t != "" {
				fmt.Fprintf(&b, " of %s", t)
			}
			if set["vcs.modified"] == "true" {
				b.WriteString(", built with uncommitted changes")
			}
			b.WriteByte('\n')
		}
		if bi.Main.Path != "" {
			fmt.Fprintf(&b, "module    %s\n", bi.Main.Path)
		}
		fmt.Fprintf(&b, "go        %s", bi.GoVersion)
		if set["GOOS"] != "" {
			fmt.Fprintf(&b, " %s/%s", set["GOOS"], set["GOARCH"])
		}
		b.WriteByte('\n')
	}
	if len(libs) > 0 {
		b.WriteString("dashboard")
		for i, l := range libs {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s %s %s (%s)", sep, l.Package, l.Version, l.License)
		}
		b.WriteString(", built in\n")
	}
	return b.String()
}
