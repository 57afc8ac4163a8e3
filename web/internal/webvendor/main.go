// Command webvendor copies the dashboard's npm packages from web/node_modules
// (made by npm ci from web/package-lock.json) into web/third_party, which is
// committed and embedded in the binary: exactly the files the dashboard
// loads, the licence of each package and of every package it depends on,
// and a manifest (web/third_party/manifest.json) naming the version,
// lockfile integrity and SHA-256 of everything copied.
//
// Run it through "make web-vendor", which runs npm ci first. It replaces
// web/third_party as a whole, so a file no longer needed disappears.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/roomstate/roomstate/web/internal/thirdparty"
)

// files are the files of each direct dependency that the dashboard loads,
// as paths inside the npm package; each is copied under its base name. A
// dependency of web/package.json missing here is an error: decide which of
// its files are needed first.
var files = map[string][]string{
	// MapLibre GL JS as ES modules: the map, its worker (which the map
	// loads from its own directory) and its CSS. Source maps, the -dev
	// builds and the type declarations are left out.
	"maplibre-gl": {"dist/maplibre-gl.mjs", "dist/maplibre-gl-worker.mjs", "dist/maplibre-gl.css"},
	// uPlot, for the dashboard's charts: the ES module and its CSS.
	"uplot": {"dist/uPlot.esm.js", "dist/uPlot.min.css"},
}

func main() {
	lockPath := flag.String("lock", "web/package-lock.json", "npm lockfile")
	modules := flag.String("modules", "web/node_modules", "node_modules made by npm ci from the lockfile")
	out := flag.String("out", "web/third_party", "directory to write (replaced as a whole)")
	flag.Parse()
	if err := run(*lockPath, *modules, *out); err != nil {
		fmt.Fprintln(os.Stderr, "webvendor:", err)
		os.Exit(1)
	}
}

func run(lockPath, modules, out string) error {
	lock, err := thirdparty.ReadLockfile(lockPath)
	if err != nil {
		return err
	}
	direct := lock.Direct()
	for _, n := range direct {
		if _, ok := files[n]; !ok {
			return fmt.Errorf("%s depends on %s, whose needed files webvendor does not know: add them to its table", lockPath, n)
		}
	}
	for n := range files {
		if !slices.Contains(direct, n) {
			return fmt.Errorf("webvendor copies %s, which %s does not depend on: remove it from its table", n, lockPath)
		}
	}

	tmp := out + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	m := thirdparty.Manifest{
		Note:     "Written by make web-vendor (npm ci, then go run ./web/internal/webvendor); do not edit. Checked against the lockfile by web's tests.",
		Lockfile: filepath.ToSlash(lockPath),
	}
	for _, name := range direct {
		p, err := vendor(lock, modules, tmp, name)
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		m.Packages = append(m.Packages, *p)
	}
	b, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, thirdparty.ManifestName), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	for _, p := range m.Packages {
		var size int64
		for _, f := range p.Files {
			size += f.Size
		}
		fmt.Printf("%s %s: %d files, %d bytes, %d licences\n", p.Name, p.Version, len(p.Files), size, len(p.Licenses))
	}
	return nil
}

// vendor copies one direct dependency and the licences of its tree.
func vendor(lock *thirdparty.Lockfile, modules, out, name string) (*thirdparty.Package, error) {
	key := "node_modules/" + name
	lp := lock.Packages[key]
	if lp.Version == "" {
		return nil, fmt.Errorf("the lockfile has no version for %s", name)
	}
	src := filepath.Join(modules, filepath.FromSlash(name))
	if err := checkInstalled(src, name, lp.Version); err != nil {
		return nil, err
	}
	p := &thirdparty.Package{Name: name, Version: lp.Version, Integrity: lp.Integrity, License: lp.License, Dir: name}
	dir := filepath.Join(out, filepath.FromSlash(p.Dir))
	for _, from := range files[name] {
		to := path.Base(from)
		size, sum, err := copyFile(filepath.Join(src, filepath.FromSlash(from)), filepath.Join(dir, to))
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, thirdparty.File{Path: to, From: from, Size: size, SHA256: sum})
	}
	tree, err := lock.Tree(key)
	if err != nil {
		return nil, err
	}
	for _, q := range tree {
		dep := lock.Packages[q]
		depName := thirdparty.NameOf(q)
		depSrc := filepath.Join(modules, filepath.FromSlash(strings.TrimPrefix(q, "node_modules/")))
		if err := checkInstalled(depSrc, depName, dep.Version); err != nil {
			return nil, err
		}
		texts, err := licenceFiles(depSrc)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", depName, dep.Version, err)
		}
		for _, t := range texts {
			rel := t
			if q != key {
				rel = path.Join("licenses", depName, t)
			}
			_, sum, err := copyFile(filepath.Join(depSrc, t), filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				return nil, err
			}
			p.Licenses = append(p.Licenses, thirdparty.Licence{Package: depName, Version: dep.Version, License: dep.License, Path: rel, SHA256: sum})
		}
	}
	return p, nil
}

// checkInstalled makes sure node_modules holds the lockfile's version.
func checkInstalled(dir, name, version string) error {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return fmt.Errorf("%s is not installed (run npm ci --prefix web): %w", name, err)
	}
	var pj struct{ Name, Version string }
	if err := json.Unmarshal(b, &pj); err != nil {
		return fmt.Errorf("%s: package.json: %w", name, err)
	}
	if pj.Version != version {
		return fmt.Errorf("%s: node_modules holds %s, the lockfile %s (run npm ci --prefix web)", name, pj.Version, version)
	}
	return nil
}

var (
	licenceName = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice)([.-].*)?$`)
	statesOne   = regexp.MustCompile(`(?i)licen[cs]e|copyright`)
)

// licenceFiles names a package's licence files; a package that ships none
// (murmurhash-js) states its licence in its README, which is taken instead.
func licenceFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names, readmes []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		switch {
		case licenceName.MatchString(e.Name()):
			names = append(names, e.Name())
		case strings.HasPrefix(strings.ToLower(e.Name()), "readme"):
			readmes = append(readmes, e.Name())
		}
	}
	if len(names) > 0 {
		return names, nil
	}
	for _, r := range readmes {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, err
		}
		if statesOne.Match(b) {
			return []string{r}, nil
		}
	}
	return nil, errors.New("no licence file, and no README stating one")
}

// copyFile copies src to dst, making dst's directory; it returns the size
// and SHA-256 of what it copied.
func copyFile(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, "", err
	}
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(o, h), in)
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", fmt.Errorf("copying %s: %w", src, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
