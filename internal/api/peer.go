package api

// The handshake messages between the daemons (POST /v1/peer/...). Every
// message names its sender; a daemon accepts messages only from its
// configured peer, authenticated, and only for its current epoch and
// switchover.

// PeerRequest asks the standby to switch (step 2 → 3).
type PeerRequest struct {
	From     string `json:"from"`
	SwitchID string `json:"switch_id"`
	Epoch    uint64 `json:"epoch"`
	FenceLSN string `json:"fence_lsn"`
}

// PeerAnswer is the standby's agreement or refusal.
type PeerAnswer struct {
	Agree  bool   `json:"agree"`
	Reason string `json:"reason,omitempty"`
	State  string `json:"state"`
	Epoch  uint64 `json:"epoch"`
	Steps  []Step `json:"steps,omitempty"`
}

// PeerSwitchOut tells the standby that the active released the VIP (step 4
// → 5).
type PeerSwitchOut struct {
	From     string `json:"from"`
	SwitchID string `json:"switch_id"`
	Epoch    uint64 `json:"epoch"`
}

// PeerActive is the new active's answer: ACTIVE in Epoch, the reverse slot
// at ReverseLSN.
type PeerActive struct {
	// SwitchID is the switchover that made the peer active: the asking
	// node's table accepts the answer only for its own.
	SwitchID string `json:"switch_id"`
	// Outcome is the handshake's answer (handshake.Resolve): "active"
	// when the peer is active in the asker's next epoch.
	Outcome    string `json:"outcome"`
	State      string `json:"state"`
	Epoch      uint64 `json:"epoch"`
	ReverseLSN string `json:"reverse_lsn"`
	Steps      []Step `json:"steps,omitempty"`
}

// PeerResolve asks what became of a switchover; a standby that has not
// started switching in abandons it and says it will not promote.
type PeerResolve struct {
	From     string `json:"from"`
	SwitchID string `json:"switch_id"`
	Epoch    uint64 `json:"epoch"`
}

// Resolution outcomes.
const (
	OutcomeActive         = "active"           // promoted in this switchover
	OutcomeSwitchingIn    = "switching_in"     // promoting now, or no final answer yet: ask again
	OutcomeWillNotPromote = "will_not_promote" // did not and will not
)

// PeerResolution answers PeerResolve.
type PeerResolution struct {
	// SwitchID is the switchover the outcome is about (for "active": the
	// one that made the peer active, which may not be the one asked about).
	SwitchID   string `json:"switch_id"`
	Outcome    string `json:"outcome"`
	State      string `json:"state"`
	Epoch      uint64 `json:"epoch"`
	ReverseLSN string `json:"reverse_lsn,omitempty"`
}

// PeerAbort tells the standby the switchover is abandoned.
type PeerAbort struct {
	From     string `json:"from"`
	SwitchID string `json:"switch_id"`
	Epoch    uint64 `json:"epoch"`
}

// PeerFailsafe asks the standby, when the active cannot reach the quorum,
// to promise not to take over for a while (SPEC §9 rule 2, failsafe).
type PeerFailsafe struct {
	From  string `json:"from"`
	Epoch uint64 `json:"epoch"`
}

// FailsafePromise is the standby's answer: Promised when it cannot reach
// the quorum either; then it takes no leader key for ForMS from when it
// answered, on its own clock.
type FailsafePromise struct {
	Promised bool   `json:"promised"`
	ForMS    int64  `json:"for_ms,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// PromoteRequest is the body of POST /v1/promote.
type PromoteRequest struct {
	DryRun bool `json:"dry_run"`
}

// PromoteEvent is one line of the NDJSON answer of POST /v1/promote: a step
// as it happens, or the final result.
type PromoteEvent struct {
	Step    *Step          `json:"step,omitempty"`
	Message string         `json:"message,omitempty"`
	Result  *PromoteResult `json:"result,omitempty"`
}

// Promote outcomes and their exit codes.
const (
	PromoteDone    = "done"    // exit 0
	PromoteDryRun  = "dry_run" // exit 0: preconditions hold
	PromoteRefused = "refused" // exit 1: nothing changed
	PromoteAborted = "aborted" // exit 1: rolled back, active kept serving
	PromoteFenced  = "fenced"  // exit 3: a node is FENCED, needs an operator
	PromoteUnknown = "unknown" // exit 3: the outcome could not be learned
)

// PromoteResult ends a promote.
type PromoteResult struct {
	Outcome  string `json:"outcome"`
	ExitCode int    `json:"exit_code"`
	Reason   string `json:"reason,omitempty"`
	SwitchID string `json:"switch_id,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Epoch    uint64 `json:"epoch,omitempty"`
	TookMS   int64  `json:"took_ms"`
	Steps    []Step `json:"steps,omitempty"`
}
