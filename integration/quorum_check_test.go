package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgswitch/pgswitch/integration/harness"
	"github.com/pgswitch/pgswitch/internal/pgtest"
	"github.com/pgswitch/pgswitch/internal/quorum"
)

// check reads the quorum (SPEC §9) against a real etcd: reachable or not,
// the leader key's holder and epoch, and whether they agree with this
// node's record (the ACTIVE node must be the one named; a key naming a node
// of another pair is a shared quorum.cluster).
func TestCheckReadsTheQuorum(t *testing.T) {
	etcd := pgtest.StartEtcd(t, 1)
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed})
	ctx := ctxFor(t, 2*time.Minute)
	a := p.Nodes[0]
	must(t, p.Init(ctx))
	q := []string{"quorum:", "  endpoints: [" + etcd.Endpoints()[0] + "]", "  cluster: checktest", "  lease_ttl: 3s"}
	must(t, p.WriteConfig(a, q))

	runCLI(t, p, cliCase{name: "no leader yet", node: 0, args: []string{"check"}, wantCode: 0,
		wantOut: []string{"etcd at " + etcd.Endpoints()[0] + " reachable; leader key /pgswitch/checktest/leader is absent"}})

	qc, err := quorum.New(quorum.Settings{Endpoints: etcd.Endpoints(), Cluster: "checktest", Prefix: "/pgswitch/", LeaseTTL: 10 * time.Second})
	must(t, err)
	defer qc.Close()

	// The daemon of the ACTIVE node takes the key itself (the pair never
	// led in etcd) and shows it in /v1/status and pgswitch status.
	must(t, p.StartDaemon(ctx, a))
	pgtest.Eventually(t, 30*time.Second, "node-a's status to show the leader key", func() (bool, error) {
		st, err := p.Status(ctx, a)
		if err != nil {
			return false, err
		}
		return st.Quorum != nil && st.Quorum.Reachable && st.Quorum.Holder == "node-a" && st.Quorum.Epoch == 1 && st.Quorum.LeaseLeftMS > 0, nil
	})
	runCLI(t, p, cliCase{name: "node-a holds it", node: 0, args: []string{"check"}, wantCode: 0,
		wantOut: []string{"held by node-a in epoch 1"}})
	out, errOut, _, err := p.Run(ctx, a, "status")
	must(t, err)
	if !strings.Contains(out+errOut, "leader node-a, epoch 1, lease") {
		t.Errorf("pgswitch status does not show the quorum:\n%s%s", out, errOut)
	}
	must(t, a.Daemon.Signal(syscall.SIGTERM))
	if _, err := a.Daemon.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// The key handed to node-b while node-a's record says ACTIVE.
	lease, err := qc.Grant(ctx)
	must(t, err)
	cur, err := qc.ReadLeader(ctx)
	must(t, err)
	_, err = qc.Handover(ctx, lease, quorum.Held{Leader: cur.Leader, Revision: cur.Revision}, "node-b")
	must(t, err)
	runCLI(t, p, cliCase{name: "another leader than the ACTIVE node", node: 0, args: []string{"check"}, wantCode: 1,
		wantOut: []string{"the leader key names node-b, but node-a is ACTIVE"}})

	must(t, etcd.Members[0].Kill())
	runCLI(t, p, cliCase{name: "etcd down", node: 0, args: []string{"check"}, wantCode: 1,
		wantOut: []string{fmt.Sprintf("etcd at %s is not usable", etcd.Endpoints()[0])}})
}

// quorum.tls_*: the daemons reach an etcd that requires client
// certificates; the active takes the leader key over TLS and check reads
// it. A client whose certificate another CA signed is refused by etcd.
func TestQuorumOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "etcd")
	must(t, err)
	server, err := ca.Issue("etcd-server", "127.0.0.1")
	must(t, err)
	client, err := ca.Issue("pgswitch")
	must(t, err)
	etcd := pgtest.StartEtcdTLS(t, pgtest.EtcdTLS{Cert: server.Cert, Key: server.Key, CA: server.CA})
	// The daemons run as root here but the files must be readable by
	// whoever reads them; the key stays private to its owner.
	lines := []string{"quorum:", "  endpoints: [" + etcd.Endpoints()[0] + "]", "  cluster: tls",
		"  tls_ca: " + client.CA, "  tls_cert: " + client.Cert, "  tls_key: " + client.Key}
	p := newPair(t, harness.Options{Schema: counterSchema, Seed: counterSeed, Config: func(int) []string { return lines }})
	ctx := ctxFor(t, 2*time.Minute)
	a := p.Nodes[0]
	startBoth(t, ctx, p)
	qc, err := quorum.New(quorum.Settings{Endpoints: etcd.Endpoints(), Cluster: "tls", Prefix: "/pgswitch/", LeaseTTL: 3 * time.Second,
		TLSCA: client.CA, TLSCert: client.Cert, TLSKey: client.Key})
	must(t, err)
	defer qc.Close()
	waitLeader(t, ctx, qc, a.Name, 1)
	runCLI(t, p, cliCase{name: "check over TLS", node: 0, args: []string{"check"}, wantCode: 0,
		wantOut: []string{"held by node-a in epoch 1"}})

	other, err := harness.NewCA(dir, "other")
	must(t, err)
	stranger, err := other.Issue("stranger")
	must(t, err)
	sc, err := quorum.New(quorum.Settings{Endpoints: etcd.Endpoints(), Cluster: "tls", Prefix: "/pgswitch/", LeaseTTL: 3 * time.Second,
		TLSCA: client.CA, TLSCert: stranger.Cert, TLSKey: stranger.Key})
	must(t, err)
	defer sc.Close()
	if _, err := sc.ReadLeader(ctx); err == nil {
		t.Fatalf("etcd answered a client whose certificate another CA signed")
	}
}
