package pgtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configures a test cluster. The zero value is a usable cluster on a
// free port on 127.0.0.1.
type Options struct {
	Name            string            // used in directory names and log messages
	Port            int               // 0: pick a free TCP port
	ListenAddresses string            // default "127.0.0.1"
	NetNS           string            // if set, the server runs inside `ip netns exec <NetNS>` (made by someone else)
	Settings        map[string]string // extra postgresql.conf settings; they override the defaults
	Parent          string            // parent directory; default os.TempDir()
	// OwnSystemID runs initdb for this cluster instead of copying the
	// template (which gives every test cluster one system identifier):
	// for a cluster that must be told apart from the others (~1 s more).
	OwnSystemID bool
}

// Cluster is a running (or stopped) PostgreSQL server in its own directory:
// data/ (DataDir), server.log and the unix socket directory (SocketDir).
type Cluster struct {
	Name      string
	DataDir   string
	SocketDir string
	Host      string // the first listen address, as a client reaches it
	Port      int

	root    string // the cluster's own directory, removed by Destroy
	logPath string
	netns   string
	bin     string

	mu        sync.Mutex
	destroyed bool
	crashed   atomic.Bool // killed by KillPostmaster and not started since
}

// defaultSettings are written to every cluster's postgresql.conf before
// Options.Settings.
var defaultSettings = map[string]string{
	"wal_level":                       "logical",
	"max_replication_slots":           "20",
	"max_wal_senders":                 "20",
	"max_worker_processes":            "16",
	"max_logical_replication_workers": "8",
	"max_connections":                 "200",
	"shared_buffers":                  "128MB",
	"fsync":                           "on",
	"log_line_prefix":                 "%m [%p] %q%u@%d ",
	"logging_collector":               "off",
}

// Start creates and starts a cluster for the test: it calls Need, then New,
// and registers a cleanup that destroys the cluster and, if the test failed,
// logs the tail of the server log first. Start fails the test on error.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Logf("pgtest: cluster %s on port %d ready in %v (data %s)", c.Name, c.Port, time.Since(began).Round(time.Millisecond), c.DataDir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: last lines of the server log of %s:\n%s", c.Name, c.LogTail(60))
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// New creates a cluster from this process's initdb template (made on first
// use) and starts it. On error everything it made is removed again. When
// opts.Port is 0 and the chosen port turns out to be taken, New retries with
// other ports.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	name := opts.Name
	if name == "" {
		name = "pg"
	}
	if err := checkPrivileges(); err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	if opts.NetNS != "" && os.Geteuid() != 0 {
		return nil, fmt.Errorf("creating cluster %s: network namespace %s needs root", name, opts.NetNS)
	}
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	tmpl, err := template(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	parent := opts.Parent
	if parent == "" {
		parent = os.TempDir()
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	if err := reachable(parent); err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	root, err := makeDir(parent, sanitize(name))
	if err != nil {
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	c := &Cluster{
		Name: name, DataDir: filepath.Join(root, "data"), SocketDir: filepath.Join(root, "s"),
		root: root, logPath: filepath.Join(root, "server.log"), netns: opts.NetNS, bin: bin,
	}
	if err := c.create(ctx, tmpl, opts); err != nil {
		c.Destroy()
		return nil, fmt.Errorf("creating cluster %s: %w", name, err)
	}
	return c, nil
}

// create copies the template, writes the configuration and starts the server.
func (c *Cluster) create(ctx context.Context, tmpl string, opts Options) error {
	if len(c.SocketDir)+len("/.s.PGSQL.65535") > 107 {
		return fmt.Errorf("socket directory %s is too long for a unix socket path; use a shorter Parent", c.SocketDir)
	}
	if err := os.Mkdir(c.SocketDir, 0o755); err != nil {
		return err
	}
	if err := chownPG(c.SocketDir); err != nil {
		return err
	}
	if opts.OwnSystemID {
		if err := initdb(ctx, c.bin, c.DataDir); err != nil {
			return err
		}
	} else if out, err := runCmd(ctx, "cp", "-a", tmpl, c.DataDir); err != nil {
		// cp -a keeps the postgres ownership and the 0700 mode initdb chose.
		return fmt.Errorf("copying template: %w: %s", err, out)
	}
	listen := opts.ListenAddresses
	if listen == "" {
		listen = "127.0.0.1"
	}
	c.Host = clientHost(listen)
	for attempt := 0; ; attempt++ {
		c.Port = opts.Port
		if c.Port == 0 {
			p, err := FreePort()
			if err != nil {
				return err
			}
			c.Port = p
		}
		if err := c.writeConfig(listen, opts.Settings); err != nil {
			return err
		}
		err := c.StartServer(ctx)
		if err == nil {
			return nil
		}
		if opts.Port != 0 || attempt == 4 || !errors.Is(err, errPortInUse) {
			return err
		}
	}
}

// writeConfig appends this cluster's settings to the template's
// postgresql.conf (kept as postgresql.conf.template); later lines win.
func (c *Cluster) writeConfig(listen string, extra map[string]string) error {
	conf := filepath.Join(c.DataDir, "postgresql.conf")
	orig := conf + ".template"
	if _, err := os.Stat(orig); os.IsNotExist(err) {
		if err := os.Rename(conf, orig); err != nil {
			return err
		}
	}
	base, err := os.ReadFile(orig)
	if err != nil {
		return err
	}
	settings := maps.Clone(defaultSettings)
	settings["port"] = strconv.Itoa(c.Port)
	settings["listen_addresses"] = listen
	settings["unix_socket_directories"] = c.SocketDir
	maps.Copy(settings, extra)
	var b strings.Builder
	b.Write(base)
	b.WriteString("\n# pgtest settings for cluster " + c.Name + "\n")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := strings.ReplaceAll(strings.ReplaceAll(settings[k], `\`, `\\`), `'`, `''`)
		fmt.Fprintf(&b, "%s = '%s'\n", k, v)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return chownPG(conf)
}

// clientHost turns listen_addresses into the address a client dials.
func clientHost(listen string) string {
	first, _, _ := strings.Cut(listen, ",")
	switch first = strings.TrimSpace(first); first {
	case "*", "0.0.0.0", "":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return first
}
