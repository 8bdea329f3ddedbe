// Package quorum owns pgswitch's keys in the etcd v3 quorum (SPEC §9): the
// leader key <prefix><cluster>/leader (holder and epoch, bound to the
// active's lease), its lease and the renewals the holder counts its
// self-fence deadline from, the fenced transactions that change the leader
// (take when absent, planned handover), the watch the standby follows, and
// the sync and seq keys that only the current leader may write.
//
// It decides nothing: the daemon reads what it reports (ErrLeaderExists,
// ErrNotLeader, ErrLostLease, SelfFenceDeadline) and acts.
package quorum
