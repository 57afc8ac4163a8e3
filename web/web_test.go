package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"path"
	"slices"
	"testing"

	"github.com/roomstate/roomstate/web/internal/thirdparty"
)

// TestThirdPartyMatchesLockfile holds the embedded third-party code to
// web/package-lock.json: the same packages, each at the lockfile's version
// and from its tarball (integrity), and every embedded file the one the
// manifest names, byte for byte, with nothing else beside it. After a
// change to web/package.json, make web-vendor makes it pass again.
func TestThirdPartyMatchesLockfile(t *testing.T) {
	lock, err := thirdparty.ReadLockfile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	libs, err := Libraries()
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string]Library{}
	for _, l := range libs {
		embedded[l.Package] = l
	}
	if got, want := slices.Sorted(maps.Keys(embedded)), lock.Direct(); !slices.Equal(got, want) {
		t.Fatalf("embedded packages %v, web/package-lock.json's dependencies %v: run make web-vendor", got, want)
	}
	m, err := manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Packages {
		lp := lock.Packages["node_modules/"+p.Name]
		if p.Version != lp.Version {
			t.Errorf("%s: embedded version %s, web/package-lock.json has %s: run make web-vendor", p.Name, p.Version, lp.Version)
		}
		if p.Integrity != lp.Integrity {
			t.Errorf("%s %s: embedded from a tarball of integrity %s, the lockfile's is %s: run make web-vendor", p.Name, p.Version, p.Integrity, lp.Integrity)
		}
		if embedded[p.Name].Version != p.Version {
			t.Errorf("%s: web.Libraries says %s, the manifest %s", p.Name, embedded[p.Name].Version, p.Version)
		}
	}

	// every file of the manifest, and only those, with its SHA-256
	want := map[string]string{}
	for _, p := range m.Packages {
		for _, f := range p.Files {
			want[path.Join(p.Dir, f.Path)] = f.SHA256
		}
		for _, l := range p.Licenses {
			want[path.Join(p.Dir, l.Path)] = l.SHA256
		}
		if !slices.ContainsFunc(p.Licenses, func(l thirdparty.Licence) bool { return l.Package == p.Name }) {
			t.Errorf("%s: no licence of its own", p.Name)
		}
	}
	got := map[string]string{}
	for _, l := range libs {
		fsys := Embedded(l.URLName)
		err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			got[path.Join(m.Find(l.Package).Dir, name)] = hex.EncodeToString(sum[:])
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, sum := range want {
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("%s: in the manifest, not embedded", name)
		case g != sum:
			t.Errorf("%s: SHA-256 %s, the manifest says %s (edited by hand? run make web-vendor)", name, g, sum)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: embedded, not in the manifest", name)
		}
	}
}

// TestRequiredMapLibreFiles: what the dashboard loads from MapLibre is embedded.
func TestRequiredMapLibreFiles(t *testing.T) {
	for _, f := range Required {
		if _, err := fs.Stat(Embedded("maplibre"), f); err != nil {
			t.Error(err)
		}
	}
	if Embedded("nothing") != nil {
		t.Error("an unknown library has files")
	}
	if _, err := MapLibreDir(t.TempDir()); err == nil {
		t.Error("an empty directory passes for MapLibre's")
	}
}
