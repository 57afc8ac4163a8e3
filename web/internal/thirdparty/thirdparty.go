// Package thirdparty owns the record of the npm code committed under
// web/third_party: the manifest written when it is vendored (which package,
// which version, which files with their SHA-256, which licences) and the
// reading of web/package-lock.json it is checked against.
//
// It knows the layout of npm's lockfile (version 2 or 3) and of the
// manifest, nothing of HTTP, of embedding or of what the dashboard does with
// the files. The vendoring command (web/internal/webvendor) writes the
// manifest; package web reads it back from the binary and its test compares
// it with the lockfile.
package thirdparty

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// ManifestName is the manifest's file name inside web/third_party.
const ManifestName = "manifest.json"

// Manifest records what web/third_party holds, one entry per npm package
// the dashboard loads, sorted by name.
type Manifest struct {
	Note     string    `json:"note"`
	Lockfile string    `json:"lockfile"` // the lockfile it was made from, relative to the repository
	Packages []Package `json:"packages"`
}

// Package is one vendored npm package: the files copied from it into
// web/third_party/{Dir} and the licences of it and of every package it
// depends on (its dist files bundle code of some of them).
type Package struct {
	Name      string    `json:"name"`      // npm name, e.g. "maplibre-gl"
	Version   string    `json:"version"`   // as in the lockfile
	Integrity string    `json:"integrity"` // the lockfile's integrity of the tarball the files came from
	License   string    `json:"license"`   // SPDX expression, from the lockfile
	Dir       string    `json:"dir"`       // directory under web/third_party
	Files     []File    `json:"files"`
	Licenses  []Licence `json:"licenses"`
}

// File is one copied file.
type File struct {
	Path   string `json:"path"`   // under the package's Dir
	From   string `json:"from"`   // where it is in the npm package, e.g. "dist/maplibre-gl.mjs"
	Size   int64  `json:"size"`   // bytes
	SHA256 string `json:"sha256"` // hex
}

// Licence is the licence text of one package of the dependency tree.
type Licence struct {
	Package string `json:"package"`
	Version string `json:"version"`
	License string `json:"license"` // SPDX expression, from the lockfile
	Path    string `json:"path"`    // under the vendored package's Dir
	SHA256  string `json:"sha256"`  // hex
}

// ParseManifest reads a manifest and checks that it is whole: every package
// named, versioned, with files, paths that stay inside its directory.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("thirdparty: manifest: %w", err)
	}
	if len(m.Packages) == 0 {
		return nil, errors.New("thirdparty: manifest lists no package")
	}
	for _, p := range m.Packages {
		if p.Name == "" || p.Version == "" || p.Dir == "" || !validPath(p.Dir) {
			return nil, fmt.Errorf("thirdparty: manifest: package %q: name, version or dir missing or bad", p.Name)
		}
		if len(p.Files) == 0 {
			return nil, fmt.Errorf("thirdparty: manifest: package %s lists no file", p.Name)
		}
		for _, f := range p.Files {
			if !validPath(f.Path) || len(f.SHA256) != 64 {
				return nil, fmt.Errorf("thirdparty: manifest: package %s: bad file entry %q", p.Name, f.Path)
			}
		}
		for _, l := range p.Licenses {
			if !validPath(l.Path) || len(l.SHA256) != 64 {
				return nil, fmt.Errorf("thirdparty: manifest: package %s: bad licence entry %q", p.Name, l.Path)
			}
		}
	}
	return &m, nil
}

// Find returns the package of that npm name, or nil.
func (m *Manifest) Find(name string) *Package {
	for i := range m.Packages {
		if m.Packages[i].Name == name {
			return &m.Packages[i]
		}
	}
	return nil
}

func validPath(p string) bool {
	return p != "" && p == path.Clean(p) && !path.IsAbs(p) && !strings.HasPrefix(p, "../") && p != ".."
}

// Lockfile is what roomstate reads of npm's package-lock.json (lockfile
// version 2 or 3: the "packages" map).
type Lockfile struct {
	LockfileVersion int                      `json:"lockfileVersion"`
	Packages        map[string]LockedPackage `json:"packages"` // by install path: "" is the root, then "node_modules/NAME", nested ones under their parent
}

// LockedPackage is one entry of the lockfile's "packages".
type LockedPackage struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Integrity    string            `json:"integrity"`
	License      string            `json:"license"`
	Dev          bool              `json:"dev"`
	Dependencies map[string]string `json:"dependencies"`
}

// ReadLockfile reads package-lock.json.
func ReadLockfile(file string) (*Lockfile, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("thirdparty: %w", err)
	}
	var l Lockfile
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("thirdparty: %s: %w", file, err)
	}
	if l.LockfileVersion < 2 || l.Packages == nil {
		return nil, fmt.Errorf("thirdparty: %s: lockfile version %d has no \"packages\" (want npm 7 or later)", file, l.LockfileVersion)
	}
	if _, ok := l.Packages[""]; !ok {
		return nil, fmt.Errorf("thirdparty: %s: no root package", file)
	}
	return &l, nil
}

// Direct returns the names of the root package's dependencies, sorted.
func (l *Lockfile) Direct() []string {
	var names []string
	for n := range l.Packages[""].Dependencies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Resolve returns the install path of the package that name means when
// required from the package installed at from ("" for the root), as Node
// resolves it: the nearest node_modules going up.
func (l *Lockfile) Resolve(from, name string) (string, bool) {
	dir := from
	for {
		p := "node_modules/" + name
		if dir != "" {
			p = dir + "/" + p
		}
		if _, ok := l.Packages[p]; ok {
			return p, true
		}
		if dir == "" {
			return "", false
		}
		// up one package: strip the last "node_modules/NAME" (NAME may be @scope/name)
		i := strings.LastIndex(dir, "node_modules/")
		if i <= 0 {
			dir = ""
		} else {
			dir = strings.TrimSuffix(dir[:i], "/")
		}
	}
}

// Tree returns the install paths of the package at root and of every
// package it depends on, directly or not (its "dependencies": not dev,
// peer or optional ones), sorted.
func (l *Lockfile) Tree(root string) ([]string, error) {
	seen := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for dep := range l.Packages[p].Dependencies {
			q, ok := l.Resolve(p, dep)
			if !ok {
				return nil, fmt.Errorf("thirdparty: %s needs %s, which the lockfile does not hold", p, dep)
			}
			if !seen[q] {
				seen[q] = true
				queue = append(queue, q)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// NameOf is the npm name of the package installed at p.
func NameOf(p string) string {
	i := strings.LastIndex(p, "node_modules/")
	if i < 0 {
		return p
	}
	return p[i+len("node_modules/"):]
}
