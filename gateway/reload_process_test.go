package gateway_test

// Process-level: SIGHUP reloads the -config file under 2k tunnels (and refuses a bad one), and the
// binary's -check. These need the wsgate binary: a signal and the command line are the interface.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// 2000 tunnels through -config FILE's pool (s1, s2: Node `ws` echo servers) while echo traffic runs;
// SIGHUP with a file that removes s1, adds s3 and changes weights: no tunnel is dropped (all 2000 still
// echo, those on the removed s1 too), new sessions use the new pool (s3 gets some, s1 none); then a bad
// file + SIGHUP is refused with a log line and the previous pool stays.
func TestE2EFailureReloadUnderLoad(t *testing.T) {
	requireE2E(t, true, false)
	const n = 2000
	s1, s2, s3 := startFlEcho(t, "s1"), startFlEcho(t, "s2"), startFlEcho(t, "s3")
	cfg := filepath.Join(t.TempDir(), "wsgate.conf")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# failure suite: reload under load\nroute /ws=backend:app\nbackend app=s1@" + s1.Addr + ",s2@" + s2.Addr + ";check=tcp;inter=1s\n")
	g := startGatewayProcess(t, "-config", cfg, "-drain-time", "100ms")

	tunnels := flOpenTunnels(t, g, "/ws", n)
	before := countServers(tunnels)
	t.Logf("%d tunnels: %v", n, before)
	if before["s1"] == 0 || before["s2"] == 0 || before["s1"]+before["s2"] != n {
		t.Fatalf("tunnels per server %v, want them on s1 and s2", before)
	}

	// Load: 8 workers cycle echoes over all tunnels until told to stop.
	stop := make(chan struct{})
	var echoes, echoErrs atomic.Int64
	var errMu sync.Mutex
	var firstErrs []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				for i := w; i < n; i += 8 {
					select {
					case <-stop:
						return
					default:
					}
					if err := tunnels[i].echoWithin(fmt.Sprintf("load-%d-%d", i, round), 10*time.Second); err != nil {
						echoErrs.Add(1)
						errMu.Lock()
						if len(firstErrs) < 5 {
							firstErrs = append(firstErrs, fmt.Sprintf("tunnel %d (%s): %v", i, tunnels[i].hello.Server, err))
						}
						errMu.Unlock()
						continue
					}
					echoes.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)

	// A good reload: s1 removed, s3 added, weights changed.
	write("route /ws=backend:app\nbackend app=s2@" + s2.Addr + "*1,s3@" + s3.Addr + "*3;check=tcp;inter=1s\n")
	reloads := strings.Count(g.log.String(), "configuration reloaded")
	atReload := echoes.Load()
	g.signal(t, syscall.SIGHUP)
	flWaitLog(t, g, "configuration reloaded", reloads, 10*time.Second)
	fresh := flOpenTunnels(t, g, "/ws", 40)
	afterReload := countServers(fresh)
	t.Logf("40 new sessions after the reload: %v", afterReload)
	if afterReload["s1"] != 0 || afterReload["s3"] == 0 || afterReload["s2"]+afterReload["s3"] != 40 {
		t.Errorf("new sessions after the reload went to %v, want s2 and s3 only, s3 included", afterReload)
	}
	if afterReload["s3"] <= afterReload["s2"] {
		t.Errorf("new sessions after the reload: %v, want s3 (weight 3) to get more than s2 (weight 1)", afterReload)
	}
	time.Sleep(time.Second)

	// A bad file: refused, logged, the running pool stays.
	write("route /ws=backend:app\nbackend app=s2@" + s2.Addr + ",s3@127.0.0.1:notaport;check=tcp\n")
	refusals := strings.Count(g.log.String(), "reload refused")
	g.signal(t, syscall.SIGHUP)
	flWaitLog(t, g, "reload refused", refusals, 10*time.Second)
	fresh2 := flOpenTunnels(t, g, "/ws", 20)
	afterBad := countServers(fresh2)
	if afterBad["s1"] != 0 || afterBad["s3"] == 0 || afterBad["s2"]+afterBad["s3"] != 20 {
		t.Errorf("new sessions after the refused reload went to %v, want the previous pool (s2, s3)", afterBad)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("echo load: %d round trips in all (%d after the first SIGHUP), %d errors", echoes.Load(), echoes.Load()-atReload, echoErrs.Load())
	if echoErrs.Load() > 0 {
		t.Errorf("%d echoes failed during the reloads: %v", echoErrs.Load(), firstErrs)
	}
	if f := flEchoAll(tunnels, "final"); len(f) > 0 {
		t.Errorf("%d of the %d original tunnels dropped: %v", len(f), n, f[:min(5, len(f))])
	}
	if f := flEchoAll(append(fresh, fresh2...), "final"); len(f) > 0 {
		t.Errorf("new tunnels: %v", f[:min(5, len(f))])
	}

	code, _, body, err := flGet("http://"+g.Admin+"/stats?json", "", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /stats?json: %d %v", code, err)
	}
	var st flStats
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("stats JSON: %v", err)
	}
	servers := map[string]int{}
	for _, p := range st.Pools {
		for _, s := range p.Servers {
			servers[s.Name] = s.Weight
		}
	}
	if len(st.Pools) != 1 || len(servers) != 2 || servers["s2"] != 1 || servers["s3"] != 3 {
		t.Errorf("running pool after the refused reload: %s, want app = s2*1, s3*3", body)
	}
	t.Logf("log lines: %q", flGrep(g.log.String(), "reload"))
}

// wsgate -check with -config FILE: a good file exits 0 and prints the plan; a bad one exits 1 with one
// [ALERT] line per problem (issue 6: "prints every error with its flag and exits 1, like haproxy -c"),
// whether the problem is a bad value of a known setting or a line the file format itself rejects.
func TestE2EFailureCheckConfig(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	bin := env.binary(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (int, string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	good := file("good.conf", "# ok\nroute /ws=topic:chat\nroute /app=backend:app\nbackend app=127.0.0.1:3001,127.0.0.1:3002*2;check=tcp\n")
	if code, out := run("-check", "-config", good); code != 0 || !strings.Contains(out, "Configuration is valid") || !strings.Contains(out, "route /app=backend:app") {
		t.Errorf("-check -config good.conf: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		name, body string
		alerts     int      // problems in the file
		want       []string // each must appear in the output
	}{
		{"bad-values.conf", "route /ws=topic:chat\nroute nope\nbackend app=127.0.0.1:notaport\n",
			2, []string{"nope", "notaport"}},
		{"bad-lines.conf", "route /ws=topic:chat\nbackend app=127.0.0.1:notaport\nno-such-setting 1\nmax-conns lots\n",
			3, []string{"notaport", "bad-lines.conf:3", "no-such-setting", "bad-lines.conf:4", "max-conns"}},
	} {
		code, out := run("-check", "-config", file(c.name, c.body))
		alerts := strings.Count(out, "[ALERT]")
		var missing []string
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				missing = append(missing, w)
			}
		}
		if code != 1 || alerts != c.alerts || len(missing) > 0 {
			t.Errorf("-check -config %s: exit %d with %d [ALERT] lines, not reported: %q; want exit 1 and %d [ALERT] lines (one per problem):\n%s",
				c.name, code, alerts, missing, c.alerts, out)
		}
	}
}
