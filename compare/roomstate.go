package compare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// roomstateServer is `roomstate serve` running as a process of its own on
// a free loopback port.
type roomstateServer struct {
	cmd    *exec.Cmd
	addr   string
	done   chan error // the process's exit
	stderr *bytes.Buffer
	hc     *fasthttp.HostClient
	Ready  time.Duration // from start to listening: loading the CSV and boundaries
}

// startRoomstate runs bin serve on the city files and waits until it listens.
func startRoomstate(ctx context.Context, bin, csv, geojson string) (*roomstateServer, error) {
	cmd := exec.Command(bin, "serve", "--load", csv, "--boundaries", geojson, "--addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive us
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &roomstateServer{cmd: cmd, done: make(chan error, 1), stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr // read only once the process has exited
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("compare: starting %s serve: %w", bin, err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on http://"); ok {
				addrc <- a
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.addr = <-addrc:
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("compare: roomstate serve exited before listening (%v): %s", err, s.stderr.String())
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	case <-time.After(10 * time.Minute):
		s.Stop()
		return nil, errors.New("compare: roomstate serve did not listen within 10 minutes")
	}
	s.Ready = time.Since(start)
	s.hc = &fasthttp.HostClient{Addr: s.addr, MaxConns: 1, MaxResponseBodySize: 1 << 30, ReadTimeout: 5 * time.Minute}
	return s, nil
}

// Stop interrupts the server and waits for it (killing it after 20 s).
func (s *roomstateServer) Stop() {
	if s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

// answer is the part of a polygon answer compared.
type answer struct {
	Total   int64            `json:"total"`
	Matched int64            `json:"matched"`
	Flags   map[string]int64 `json:"flags"`
	TookUS  int64            `json:"took_us"`
}

// polygon posts one polygon query and returns the answer and the round trip.
func (s *roomstateServer) polygon(body []byte) (answer, time.Duration, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + s.addr + "/api/v1/query/polygon")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	t := time.Now()
	err := s.hc.Do(req, resp)
	el := time.Since(t)
	if err != nil {
		return answer{}, 0, fmt.Errorf("compare: roomstate polygon query: %w", err)
	}
	if resp.StatusCode() != 200 {
		return answer{}, 0, fmt.Errorf("compare: roomstate polygon query: status %d: %.300s", resp.StatusCode(), resp.Body())
	}
	var a answer
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		return answer{}, 0, fmt.Errorf("compare: roomstate polygon answer: %w", err)
	}
	return a, el, nil
}

// tile fetches one tile, uncompressed; where goes as given (blanks
// appended to an expression make a distinct cache key for the same
// expression, which is how an uncached tile is asked for).
func (s *roomstateServer) tile(z, x, y uint32, where string) ([]byte, time.Duration, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/tiles/%d/%d/%d.mvt?where=%s", s.addr, z, x, y, url.QueryEscape(where)))
	t := time.Now()
	err := s.hc.Do(req, resp)
	el := time.Since(t)
	if err != nil {
		return nil, 0, fmt.Errorf("compare: roomstate tile: %w", err)
	}
	if resp.StatusCode() == 200 { // an empty tile is an empty body
		return append([]byte(nil), resp.Body()...), el, nil
	}
	return nil, 0, fmt.Errorf("compare: roomstate tile %d/%d/%d: status %d: %.300s", z, x, y, resp.StatusCode(), resp.Body())
}
