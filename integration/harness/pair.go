package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/pgtest"
)

// DB is the database every node replicates.
const DB = "app"

// Options shape a pair.
type Options struct {
	Dir      string               // where configs, state and logs go (required)
	Names    [2]string            // default node-a, node-b
	NetNS    [2]string            // run each node (database and daemon) in a namespace
	Addrs    [2]string            // listen addresses (default 127.0.0.1)
	Settings map[string]string    // extra postgresql.conf settings for both
	Port     int                  // the same PostgreSQL port on both nodes (needs NetNS); 0: free ports
	Schema   string               // SQL run in "app" on both nodes before init
	Seed     string               // SQL run in "app" on the first node only (its data)
	Config   func(i int) []string // extra YAML lines per node, appended to the file
	Env      []string             // extra environment for every pgswitch process
	// TLS, when set, gives each node mutual TLS for its API (index = node)
	// and no token: https between the daemons.
	TLS *[2]CertFiles
}

// Node is one side of the pair.
type Node struct {
	Index      int
	Name       string
	Cluster    *pgtest.Cluster
	NetNS      string
	Addr       string
	APIPort    int
	ConfigPath string
	StateDir   string
	Daemon     *pgtest.Proc
	tls        *CertFiles
}

// APIURL is the node's API as the peer reaches it.
func (n *Node) APIURL() string {
	scheme := "http"
	if n.tls != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, n.Addr, n.APIPort)
}

// Pair is two nodes and the pgswitch binary.
type Pair struct {
	Nodes     [2]*Node
	Bin       string
	Dir       string
	Token     string
	TokenFile string
	opts      Options
	clientsMu sync.Mutex
	clients   map[string]*api.Client // one per node: connections are reused
}

// Other is the node that is not n.
func (p *Pair) Other(n *Node) *Node { return p.Nodes[1-n.Index] }

// New creates both clusters (in parallel), the "app" database with
// opts.Schema on each, the token file and both configuration files.
func New(ctx context.Context, opts Options) (*Pair, error) {
	if opts.Dir == "" {
		return nil, errors.New("harness: Options.Dir is required")
	}
	if opts.Names[0] == "" {
		opts.Names = [2]string{"node-a", "node-b"}
	}
	bin, err := pgtest.BuildPgswitchE()
	if err != nil {
		return nil, err
	}
	p := &Pair{Bin: bin, Dir: opts.Dir, opts: opts}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	p.Token = hex.EncodeToString(tok)
	p.TokenFile = filepath.Join(opts.Dir, "token")
	if err := os.WriteFile(p.TokenFile, []byte(p.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range 2 {
		addr := opts.Addrs[i]
		if addr == "" {
			addr = "127.0.0.1"
		}
		port, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		n := &Node{Index: i, Name: opts.Names[i], NetNS: opts.NetNS[i], Addr: addr, APIPort: port,
			ConfigPath: filepath.Join(opts.Dir, opts.Names[i]+".yaml"), StateDir: filepath.Join(opts.Dir, opts.Names[i]+"-state")}
		if opts.TLS != nil {
			n.tls = &opts.TLS[i]
		}
		p.Nodes[i] = n
		g.Go(func() error {
			c, err := pgtest.New(gctx, pgtest.Options{Name: n.Name, ListenAddresses: addr, NetNS: n.NetNS, Settings: opts.Settings, Parent: opts.Dir, Port: opts.Port})
			if err != nil {
				return err
			}
			n.Cluster = c
			if err := c.CreateDatabase(gctx, DB); err != nil {
				return err
			}
			if opts.Schema != "" {
				if err := c.Exec(gctx, DB, opts.Schema); err != nil {
					return fmt.Errorf("schema on %s: %w", n.Name, err)
				}
			}
			if opts.Seed != "" && i == 0 {
				if err := c.Exec(gctx, DB, opts.Seed); err != nil {
					return fmt.Errorf("seed data on %s: %w", n.Name, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		p.Close()
		return nil, err
	}
	for i := range 2 {
		if err := p.WriteConfig(p.Nodes[i], nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// LocalDSN is how a node's daemon reaches its own database (the socket).
func (p *Pair) LocalDSN(n *Node) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", n.Cluster.SocketDir, n.Cluster.Port, DB)
}

// PeerDSN is how a node reaches the other's database (TCP).
func (p *Pair) PeerDSN(n *Node) string {
	o := p.Other(n)
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s connect_timeout=3", o.Addr, o.Cluster.Port, DB)
}

// WriteConfig writes n's configuration file; extra lines are appended.
func (p *Pair) WriteConfig(n *Node, extra []string) error {
	o := p.Other(n)
	lines := []string{
		"node:",
		"  name: " + n.Name,
		fmt.Sprintf("  api_listen: %s:%d", n.Addr, n.APIPort),
		"  state_dir: " + n.StateDir,
		"peer:",
		"  name: " + o.Name,
		"  api_url: " + o.APIURL(),
		"postgres:",
		fmt.Sprintf("  dsn: %q", p.LocalDSN(n)),
		fmt.Sprintf("  peer_dsn: %q", p.PeerDSN(n)),
		"security:",
	}
	if n.tls != nil {
		lines = append(lines, "  tls_cert: "+n.tls.Cert, "  tls_key: "+n.tls.Key, "  tls_ca: "+n.tls.CA)
	} else {
		lines = append(lines, "  token_file: "+p.TokenFile)
	}
	lines = append(lines,
		"log:",
		"  level: debug",
	)
	if p.opts.Config != nil {
		lines = append(lines, p.opts.Config(n.Index)...)
	}
	lines = append(lines, extra...)
	return os.WriteFile(n.ConfigPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// Close stops daemons and destroys both clusters.
func (p *Pair) Close() {
	for _, n := range p.Nodes {
		if n == nil {
			continue
		}
		if n.Daemon != nil {
			_ = n.Daemon.Kill9()
		}
		if n.Cluster != nil {
			_ = n.Cluster.Destroy()
		}
	}
}

// Run runs `pgswitch args… --config <n's config>` to completion.
func (p *Pair) Run(ctx context.Context, n *Node, args ...string) (stdout, stderr string, code int, err error) {
	argv := append([]string{p.Bin}, args...)
	argv = append(argv, "--config", n.ConfigPath)
	return pgtest.Run(ctx, n.NetNS, p.opts.Env, argv...)
}

// Init runs init --role primary on a and --role standby on b.
func (p *Pair) Init(ctx context.Context) error {
	for i, role := range []string{"primary", "standby"} {
		out, errOut, code, err := p.Run(ctx, p.Nodes[i], "init", "--role", role)
		if err != nil || code != 0 {
			return fmt.Errorf("init --role %s on %s: exit %d, %v\n%s%s", role, p.Nodes[i].Name, code, err, out, errOut)
		}
	}
	return nil
}

// StartDaemon starts n's daemon and waits until its API answers.
func (p *Pair) StartDaemon(ctx context.Context, n *Node) error {
	return p.StartDaemonEnv(ctx, n, nil)
}

// StartDaemonEnv is StartDaemon with extra environment (fault injection).
func (p *Pair) StartDaemonEnv(ctx context.Context, n *Node, env []string) error {
	proc, err := pgtest.StartProcE(n.Name+"-daemon", n.NetNS, p.Dir, append(append([]string(nil), p.opts.Env...), env...), p.Bin, "daemon", "--config", n.ConfigPath)
	if err != nil {
		return err
	}
	n.Daemon = proc
	exited := errors.New("daemon exited")
	err = pgtest.WaitFor(ctx, n.Name+" daemon API", func() (bool, error) {
		if !proc.Running() {
			return true, exited
		}
		_, err := p.Status(ctx, n)
		return err == nil, err
	})
	if err == nil && !proc.Running() {
		return fmt.Errorf("%s daemon exited: %s", n.Name, lastLines(proc.Log(), 20))
	}
	return err
}

// Client is an authenticated API client for n (with the node's own
// certificate when the pair uses mutual TLS).
func (p *Pair) Client(n *Node) *api.Client {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	if c, ok := p.clients[n.Name]; ok {
		return c
	}
	if p.clients == nil {
		p.clients = map[string]*api.Client{}
	}
	sec := &api.Security{Token: []byte(p.Token)}
	if n.tls != nil {
		if s, err := api.LoadSecurity("", n.tls.Cert, n.tls.Key, n.tls.CA); err == nil {
			sec = s
		}
	}
	c := api.NewClient(n.APIURL(), sec, 5*time.Second)
	if n.NetNS != "" {
		tr := c.HTTP.Transport.(*http.Transport).Clone()
		tr.DialContext = pgtest.NSDialer(n.NetNS)
		c.HTTP.Transport = tr
	}
	p.clients[n.Name] = c
	return c
}

// Status is n's /v1/status.
func (p *Pair) Status(ctx context.Context, n *Node) (api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.Client(n).Status(ctx)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
