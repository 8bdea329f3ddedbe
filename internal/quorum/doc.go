// Package quorum owns pgswitch's keys in the etcd v3 quorum (SPEC §9): the
// leader key <prefix><cluster>/leader (holder and epoch, bound to the
// active's lease), its lease and the renewals the holder counts its
// self-fence deadline from, the epoch key <prefix><cluster>/epoch (the
// highest epoch taken and by whom, without a lease, rewritten with every
// new leader), the fenced transactions that change the leader (the first
// leader, the planned handover, the takeover's claim compared with the
// epoch key as read, the regain of a holder's own epoch), the watch the
// standby follows, and the sync and seq keys that only the current leader
// may write.
//
// It decides nothing: the daemon reads what it reports (ErrLeaderExists,
// ErrNotLeader, ErrLostLease, ErrEpochMoved, SelfFenceDeadline) and acts.
package quorum
