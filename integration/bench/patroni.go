package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// Patroni's pair for the comparison, set up as Debian ships it: patroni
// 3.0.2 with its etcd3 DCS on one etcd member, two PostgreSQL nodes on
// loopback ports with asynchronous streaming and use_pg_rewind, each
// node's Patroni running as the postgres user. This is configuration of
// the peer, not a second product: Patroni does the work.

const patroniScope = "bench"

// patroniDCS is the DCS timing Patroni runs with.
type patroniDCS struct {
	name                        string
	ttl, loopWait, retryTimeout int // seconds
}

var (
	patroniDefaults = patroniDCS{"Patroni defaults", 30, 10, 10}
	patroniTuned    = patroniDCS{"Patroni tuned", 10, 1, 3}
)

type patroniNode struct {
	name            string
	dir, config     string
	pgPort, apiPort int
	proc            *pgtest.Proc
}

func (n *patroniNode) data() string { return filepath.Join(n.dir, "data") }

type patroniPair struct {
	dir   string
	bin   string // PostgreSQL's
	etcd  *pgtest.Etcd
	nodes [2]*patroniNode
	http  *http.Client
	lost  *patroniNode // the node of the last host loss, until it rejoins
}

// newPatroni starts etcd and both nodes in dir (made here), waits for the
// leader and a streaming replica, and creates the writers' schema. On
// error nothing is left running.
func newPatroni(ctx context.Context, dir string) (_ *patroniPair, err error) {
	for _, tool := range []string{"patroni", "patronictl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w (make deps installs Debian's patroni)", err)
		}
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		return nil, err
	}
	if err := pgtest.MkdirPG(dir); err != nil {
		return nil, err
	}
	pp := &patroniPair{dir: dir, bin: bin, http: &http.Client{Timeout: 3 * time.Second}}
	defer func() {
		if err != nil {
			pp.Close()
		}
	}()
	progress("peers: Patroni: starting etcd and two nodes (bootstrap, base backup)")
	etcdDir := filepath.Join(dir, "etcd")
	if err := os.Mkdir(etcdDir, 0o700); err != nil {
		return nil, err
	}
	if pp.etcd, err = pgtest.NewEtcd(ctx, etcdDir, 1, "", "127.0.0.1"); err != nil {
		return nil, err
	}
	for i := range pp.nodes {
		n := &patroniNode{name: fmt.Sprintf("patroni%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("patroni%d", i+1))}
		if n.pgPort, err = pgtest.FreePort(); err == nil {
			n.apiPort, err = pgtest.FreePort()
		}
		if err != nil {
			return nil, err
		}
		n.config = filepath.Join(n.dir, "patroni.yml")
		if err := pgtest.MkdirPG(n.dir); err != nil {
			return nil, err
		}
		if err := os.WriteFile(n.config, []byte(pp.yaml(n)), 0o644); err != nil {
			return nil, err
		}
		pp.nodes[i] = n
	}
	for _, n := range pp.nodes {
		if err := pp.start(n); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	if err := pp.ready(rctx); err != nil {
		return nil, err
	}
	conn, err := pp.connect(rctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(rctx, "CREATE DATABASE app"); err != nil {
		return nil, fmt.Errorf("creating the database on Patroni's leader: %w", err)
	}
	// Until the replica has replayed it, a multi-host DSN that tries the
	// replica first fails on the missing database without trying further.
	if err := pp.ready(rctx); err != nil {
		return nil, err
	}
	app, err := pp.connect(rctx, "app")
	if err != nil {
		return nil, err
	}
	defer app.Close(context.WithoutCancel(ctx))
	if _, err := app.Exec(rctx, switchSchema); err != nil {
		return nil, fmt.Errorf("creating the schema on Patroni's leader: %w", err)
	}
	return pp, nil
}

// yaml is n's Patroni configuration. Bootstrap's DCS settings are
// Patroni's defaults, spelled out; configure changes them.
func (pp *patroniPair) yaml(n *patroniNode) string {
	var params []string
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		params = append(params, fmt.Sprintf("    %s: %q", k, settings[k]))
	}
	d := patroniDefaults
	return fmt.Sprintf(`scope: %[1]s
namespace: /pgswitch-bench/
name: %[2]s
restapi:
  listen: 127.0.0.1:%[3]d
  connect_address: 127.0.0.1:%[3]d
etcd3:
  hosts: %[4]s
bootstrap:
  dcs:
    ttl: %[5]d
    loop_wait: %[6]d
    retry_timeout: %[7]d
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
  initdb:
  - encoding: UTF8
  - locale: C
postgresql:
  listen: 127.0.0.1:%[8]d
  connect_address: 127.0.0.1:%[8]d
  data_dir: %[9]s
  bin_dir: %[10]s
  pgpass: %[11]s
  authentication:
    superuser: {username: postgres, password: bench}
    replication: {username: replicator, password: bench}
    rewind: {username: postgres, password: bench}
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: %[12]q
%[13]s
`, patroniScope, n.name, n.apiPort, strings.TrimPrefix(pp.etcd.Endpoints()[0], "http://"),
		d.ttl, d.loopWait, d.retryTimeout,
		n.pgPort, n.data(), pp.bin, filepath.Join(n.dir, "pgpass"), n.dir, strings.Join(params, "\n"))
}

// start runs n's Patroni as the postgres user.
func (pp *patroniPair) start(n *patroniNode) error {
	p, err := pgtest.StartProcE(n.name, "", n.dir, []string{"HOME=" + n.dir},
		"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", "patroni", n.config)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// patroniMember is a member in Patroni's GET /cluster.
type patroniMember struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	State string `json:"state"`
	Lag   any    `json:"lag"` // bytes, or "unknown"
}

// members asks any node that answers for the cluster as Patroni sees it.
func (pp *patroniPair) members(ctx context.Context) ([]patroniMember, error) {
	var errs []error
	for _, n := range pp.nodes {
		if n.proc == nil || !n.proc.Running() {
			continue
		}
		var c struct {
			Members []patroniMember `json:"members"`
		}
		if err := pp.getJSON(ctx, fmt.Sprintf("http://127.0.0.1:%d/cluster", n.apiPort), &c); err != nil {
			errs = append(errs, err)
			continue
		}
		return c.Members, nil
	}
	return nil, fmt.Errorf("no Patroni node answers: %w", errors.Join(errs...))
}

// leader is the node Patroni names the leader, and the other.
func (pp *patroniPair) leader(ctx context.Context) (leader, replica *patroniNode, err error) {
	ms, err := pp.members(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		if m.Role == "leader" && m.State == "running" {
			for i, n := range pp.nodes {
				if n.name == m.Name {
					return n, pp.nodes[1-i], nil
				}
			}
		}
	}
	return nil, nil, fmt.Errorf("no running leader among %+v", ms)
}

// ready waits until Patroni reports a running leader and a running
// replica, and the leader's walsender shows the replica streaming with
// everything replayed.
func (pp *patroniPair) ready(ctx context.Context) error {
	return pgtest.WaitFor(ctx, "Patroni's leader and a streaming, caught-up replica", func() (bool, error) {
		ms, err := pp.members(ctx)
		if err != nil {
			return false, err
		}
		running := 0
		for _, m := range ms {
			if m.State == "running" && (m.Role == "leader" || m.Role == "replica") {
				running++
			}
		}
		if running != 2 {
			return false, fmt.Errorf("members %+v", ms)
		}
		return streamedAll(ctx, pp.hosts("postgres", "postgres"))
	})
}

// hosts is the libpq multi-host DSN of both nodes, with
// target_session_attrs=read-write.
func (pp *patroniPair) hosts(user, db string) string {
	a, b := pp.nodes[0], pp.nodes[1]
	return fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=%s dbname=%s sslmode=disable target_session_attrs=read-write",
		a.pgPort, b.pgPort, user, db)
}

// connect reaches the writable node as the superuser.
func (pp *patroniPair) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return connectPrimary(ctx, pp.hosts("postgres", db))
}

// configure sets Patroni's DCS timing (PATCH /config) and waits until both
// members hold etcd leases of the new ttl: each has applied it.
func (pp *patroniPair) configure(ctx context.Context, d patroniDCS) error {
	body, _ := json.Marshal(map[string]int{"ttl": d.ttl, "loop_wait": d.loopWait, "retry_timeout": d.retryTimeout})
	leader, _, err := pp.leader(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, fmt.Sprintf("http://127.0.0.1:%d/config", leader.apiPort), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := pp.http.Do(req)
	if err != nil {
		return fmt.Errorf("PATCH /config: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PATCH /config: %s", resp.Status)
	}
	progress("peers: Patroni: ttl %d, loop_wait %d, retry_timeout %d; waiting until both members apply it", d.ttl, d.loopWait, d.retryTimeout)
	wctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	return pgtest.WaitFor(wctx, fmt.Sprintf("both Patroni members on leases of %d s", d.ttl), func() (bool, error) {
		ttls, err := pp.memberLeaseTTLs(wctx)
		return err == nil && len(ttls) == 2 && ttls[0] == d.ttl && ttls[1] == d.ttl, err
	})
}

// memberLeaseTTLs are the granted TTLs of the leases of the members' keys
// in etcd (through etcd's JSON gateway).
func (pp *patroniPair) memberLeaseTTLs(ctx context.Context) ([]int, error) {
	prefix := "/pgswitch-bench/" + patroniScope + "/members/"
	end := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
	var kv struct {
		Kvs []struct {
			Lease string `json:"lease"`
		} `json:"kvs"`
	}
	b64 := base64.StdEncoding.EncodeToString
	if err := pp.etcdCall(ctx, "/v3/kv/range", map[string]string{"key": b64([]byte(prefix)), "range_end": b64([]byte(end))}, &kv); err != nil {
		return nil, err
	}
	var ttls []int
	for _, k := range kv.Kvs {
		var l struct {
			GrantedTTL string `json:"grantedTTL"`
		}
		if err := pp.etcdCall(ctx, "/v3/lease/timetolive", map[string]string{"ID": k.Lease}, &l); err != nil {
			return nil, err
		}
		ttl, _ := strconv.Atoi(l.GrantedTTL)
		ttls = append(ttls, ttl)
	}
	return ttls, nil
}

func (pp *patroniPair) etcdCall(ctx context.Context, path string, in any, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pp.etcd.Endpoints()[0]+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := pp.http.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	return nil
}

func (pp *patroniPair) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := pp.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// switchover runs patronictl switchover --force from the leader to the
// replica.
func (pp *patroniPair) switchover(ctx context.Context) (time.Duration, string, error) {
	leader, replica, err := pp.leader(ctx)
	if err != nil {
		return 0, "", err
	}
	cctx, cancel := context.WithTimeout(ctx, peerWait)
	defer cancel()
	start := time.Now()
	out, errOut, code, err := pgtest.Run(cctx, "", nil, "patronictl", "-c", leader.config,
		"switchover", "--force", "--leader", leader.name, "--candidate", replica.name, patroniScope)
	took := time.Since(start)
	if err != nil || code != 0 || !strings.Contains(out, "Successfully switched over") {
		return took, "", fmt.Errorf("patronictl switchover: exit %d %v\n%s%s", code, err, out, errOut)
	}
	return took, fmt.Sprintf("patronictl switchover --force, %s → %s", leader.name, replica.name), nil
}

// crash kills the leader's Patroni, its postmaster and every backend at
// once: the host's loss, on loopback.
func (pp *patroniPair) crash(ctx context.Context) (time.Time, error) {
	leader, _, err := pp.leader(ctx)
	if err != nil {
		return time.Time{}, err
	}
	pm, err := postmasterPID(leader.data())
	if err != nil {
		return time.Time{}, err
	}
	at, err := pgtest.KillTrees(10*time.Second, leader.proc.Pid(), pm)
	if err != nil {
		return at, err
	}
	if err := leader.proc.Kill9(); err != nil { // reaps it
		return at, err
	}
	pp.lost = leader
	return at, nil
}

// rejoin starts the lost node's Patroni again: it rewinds its database
// (discarding what the new leader lacks) and follows.
func (pp *patroniPair) rejoin(context.Context) (map[int64]bool, error) {
	if pp.lost == nil {
		return nil, nil
	}
	n := pp.lost
	pp.lost = nil
	return nil, pp.start(n)
}

func (pp *patroniPair) ids(ctx context.Context) (map[int64]bool, error) {
	return primaryIDs(ctx, pp.hosts("postgres", "app"))
}

// peer is the pair as the comparison drives it, with d's timing.
func (pp *patroniPair) peer(d patroniDCS) peer {
	return peer{
		name: d.name,
		setup: fmt.Sprintf("Patroni 3.0.2 (ttl %d, loop_wait %d, retry_timeout %d), etcd3 DCS on one etcd member, "+
			"two nodes on loopback with asynchronous streaming and use_pg_rewind; host loss = SIGKILL of Patroni, the postmaster and its children",
			d.ttl, d.loopWait, d.retryTimeout),
		targets:    []target{{name: "multi-host DSN", dsn: pp.hosts("app", "app")}},
		ready:      pp.ready,
		switchover: pp.switchover,
		crash:      pp.crash,
		rejoin:     pp.rejoin,
		ids:        pp.ids,
		tells:      "no: pg_rewind discards them on rejoin",
	}
}

// Close stops both Patroni (each stops its PostgreSQL), kills whatever
// is left of them, and etcd.
func (pp *patroniPair) Close() {
	for _, n := range pp.nodes {
		if n == nil || n.proc == nil {
			continue
		}
		if n.proc.Running() {
			if err := n.proc.Signal(syscall.SIGTERM); err == nil {
				_, _ = n.proc.Wait(30 * time.Second)
			}
			_ = n.proc.Kill9()
		}
		// A postmaster Patroni left behind (it is not our child).
		if pm, err := postmasterPID(n.data()); err == nil && isPostmasterOf(pm, n.data()) {
			_, _ = pgtest.KillTrees(10*time.Second, pm)
		}
	}
	if pp.etcd != nil {
		_ = pp.etcd.Close()
	}
}

// postmasterPID reads the postmaster's pid from its data directory.
func postmasterPID(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("reading the postmaster's pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("reading the postmaster's pid in %s: %w", data, err)
	}
	return pid, nil
}

// isPostmasterOf reports whether pid runs postgres on data (a pid file may
// outlive its process, and the pid be reused).
func isPostmasterOf(pid int, data string) bool {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmd, []byte(data))
}
