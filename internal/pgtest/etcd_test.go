package pgtest

import (
	"context"
	"testing"
	"time"
)

// TestEtcdMemberRestart starts one member, kills it, sees it unhealthy and
// brings it back on the same data directory.
func TestEtcdMemberRestart(t *testing.T) {
	e := StartEtcd(t, 1)
	m := e.Members[0]
	if len(e.Endpoints()) != 1 || e.Endpoints()[0] != m.ClientURL {
		t.Fatalf("endpoints %v, want [%s]", e.Endpoints(), m.ClientURL)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if m.Running() {
		t.Fatal("member still running after Kill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := m.WaitHealthy(ctx); err == nil {
		t.Fatal("a killed member reported healthy")
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if err := m.WaitHealthy(ctx2); err != nil {
		t.Fatal(err)
	}
}
