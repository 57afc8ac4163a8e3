package thirdparty

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A lockfile where a needs b@2 nested under it while the top level holds
// b@1 for c: the tree of a takes the nested b and what b needs from the top.
const nested = `{
  "name": "x", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "x", "dependencies": {"a": "1", "c": "1"}},
    "node_modules/a": {"version": "1.0.0", "license": "MIT", "dependencies": {"b": "2"}},
    "node_modules/a/node_modules/b": {"version": "2.0.0", "license": "ISC", "dependencies": {"@s/d": "1"}},
    "node_modules/b": {"version": "1.0.0", "license": "ISC"},
    "node_modules/c": {"version": "1.0.0", "license": "MIT", "dependencies": {"b": "1"}},
    "node_modules/@s/d": {"version": "1.0.0", "license": "MIT"},
    "node_modules/devonly": {"version": "1.0.0", "dev": true}
  }
}`

func TestLockfileTree(t *testing.T) {
	file := filepath.Join(t.TempDir(), "package-lock.json")
	if err := os.WriteFile(file, []byte(nested), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLockfile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Direct(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Direct() = %v", got)
	}
	for _, tc := range []struct {
		root string
		want []string
	}{
		{"node_modules/a", []string{"node_modules/@s/d", "node_modules/a", "node_modules/a/node_modules/b"}},
		{"node_modules/c", []string{"node_modules/b", "node_modules/c"}},
	} {
		got, err := l.Tree(tc.root)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Tree(%s) = %v, want %v", tc.root, got, tc.want)
		}
	}
	if n := NameOf("node_modules/a/node_modules/@s/d"); n != "@s/d" {
		t.Errorf("NameOf = %q", n)
	}

	l.Packages["node_modules/c"] = LockedPackage{Version: "1.0.0", Dependencies: map[string]string{"missing": "1"}}
	if _, err := l.Tree("node_modules/c"); err == nil {
		t.Error("a dependency the lockfile lacks passes")
	}
}

func TestParseManifestRefusesEscapes(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"packages": [{"name": "a", "version": "1", "dir": "a", "files": []}]}`,
		`{"packages": [{"name": "a", "version": "1", "dir": "../a", "files": [{"path": "x", "sha256": "` + sha0 + `"}]}]}`,
		`{"packages": [{"name": "a", "version": "1", "dir": "a", "files": [{"path": "../x", "sha256": "` + sha0 + `"}]}]}`,
		`{"packages": [{"name": "a", "version": "1", "dir": "a", "files": [{"path": "x", "sha256": "00"}]}]}`,
	} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("ParseManifest(%s) passes", bad)
		}
	}
	good := `{"packages": [{"name": "a", "version": "1", "dir": "a", "files": [{"path": "x", "sha256": "` + sha0 + `"}]}]}`
	m, err := ParseManifest([]byte(good))
	if err != nil || m.Find("a") == nil || m.Find("b") != nil {
		t.Errorf("ParseManifest(%s) = %v, %v", good, m, err)
	}
}

const sha0 = "0000000000000000000000000000000000000000000000000000000000000000"
