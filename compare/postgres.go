package compare

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is a throwaway PostgreSQL cluster: initdb in a directory of its
// own, one server on a free loopback port, removed by Stop.
type postgres struct {
	dir  string // holds the data directory, the socket and the log
	cmd  *exec.Cmd
	done chan error
	port int
	cred *syscall.Credential // the postgres user when we are root (initdb refuses root)
	DSN  string
}

// Settings of the server, all in PostGIS's favour or neutral for reads:
// the data fits in shared buffers; every execution is planned with its own
// parameters (pgx prepares statements, and after five runs PostgreSQL may
// switch to a generic plan in which ST_GeomFromGeoJSON($1) is not folded to
// a constant but parsed again for every candidate row: seconds for a street
// polygon); no JIT compilation for the bigger scans (it costs tens of
// milliseconds a query); no durability (only the load writes).
var serverSettings = []string{
	"plan_cache_mode=force_custom_plan",
	"listen_addresses=127.0.0.1",
	"shared_buffers=1GB",
	"work_mem=64MB",
	"maintenance_work_mem=512MB",
	"max_wal_size=8GB",
	"jit=off",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
}

// FindPGBin returns the bin directory of the newest PostgreSQL installed by
// Debian's packages (/usr/lib/postgresql/N/bin) that has PostGIS next to it.
func FindPGBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, d := range dirs {
		ver := filepath.Base(filepath.Dir(d))
		if _, err := os.Stat(filepath.Join("/usr/share/postgresql", ver, "extension", "postgis.control")); err == nil {
			return d, nil
		}
	}
	if len(dirs) > 0 {
		return "", fmt.Errorf("compare: PostgreSQL is in %s but PostGIS is not: apt-get install postgresql-%s-postgis-3",
			dirs[0], filepath.Base(filepath.Dir(dirs[0])))
	}
	return "", errors.New("compare: no PostgreSQL found in /usr/lib/postgresql: apt-get install postgresql-15-postgis-3")
}

func pgVersion(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

// startPostgres makes a cluster under dir and starts it.
func startPostgres(ctx context.Context, bin, dir string) (*postgres, error) {
	p := &postgres{dir: filepath.Join(dir, "pg"), done: make(chan error, 1)}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		uid, gid, err := lookupUser("postgres")
		if err != nil {
			return nil, fmt.Errorf("compare: initdb refuses to run as root and %w", err)
		}
		p.cred = &syscall.Credential{Uid: uid, Gid: gid}
		if err := os.Chmod(dir, 0o755); err != nil { // let the postgres user through to its directory
			return nil, err
		}
		if err := os.Chown(p.dir, int(uid), int(gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(p.dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "roomstate", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = p.dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compare: initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.port = port
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", p.dir}
	for _, s := range serverSettings {
		args = append(args, "-c", s)
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	p.cmd.Dir = p.dir
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("compare: starting postgres: %w", err)
	}
	go func() { p.done <- p.cmd.Wait(); log.Close() }()
	p.DSN = fmt.Sprintf("postgres://roomstate@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, p.DSN)
		if err == nil {
			conn.Close(ctx)
			return p, nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			tail, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("compare: postgres exited (%v): %s", err, tail)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("compare: postgres did not accept connections within 60 s: %w", err)
		}
	}
}

// Stop shuts the server down (fast shutdown; killed after 30 s).
func (p *postgres) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		p.done <- <-p.done
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lookupUser reads a user's ids from /etc/passwd (os/user would need cgo
// or a build tag for the same).
func lookupUser(name string) (uid, gid uint32, err error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 4 && fs[0] == name {
			u, err1 := strconv.ParseUint(fs[2], 10, 32)
			g, err2 := strconv.ParseUint(fs[3], 10, 32)
			if err1 != nil || err2 != nil {
				return 0, 0, fmt.Errorf("/etc/passwd: bad ids for %s", name)
			}
			return uint32(u), uint32(g), nil
		}
	}
	return 0, 0, fmt.Errorf("there is no user %q (the postgresql package makes it)", name)
}

// load creates the table, copies the CSV in and indexes the points; it
// returns the time of each step.
func load(ctx context.Context, conn *pgx.Conn, csvPath string, flags []string) (map[string]time.Duration, error) {
	steps := map[string]time.Duration{}
	t := time.Now()
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS postgis", schemaSQL(flags)} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("compare: %s: %w", q, err)
		}
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t = time.Now()
	tag, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), copySQL(flags))
	if err != nil {
		return nil, fmt.Errorf("compare: COPY %s: %w", csvPath, err)
	}
	steps["copy"] = time.Since(t)
	t = time.Now()
	if _, err := conn.Exec(ctx, "CREATE INDEX dwellings_geom ON dwellings USING gist (geom)"); err != nil {
		return nil, fmt.Errorf("compare: indexing: %w", err)
	}
	steps["index"] = time.Since(t)
	t = time.Now()
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE dwellings"); err != nil {
		return nil, fmt.Errorf("compare: VACUUM ANALYZE: %w", err)
	}
	steps["vacuum_analyze"] = time.Since(t)
	if tag.RowsAffected() == 0 {
		return nil, fmt.Errorf("compare: COPY read no row from %s", csvPath)
	}
	return steps, nil
}
