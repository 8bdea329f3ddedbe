package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/api"
)

func promoteCmd() *cobra.Command {
	var (
		timeout time.Duration
		dryRun  bool
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Make the current standby the active node (planned switchover)",
		Long: `promote asks the local daemon to switch roles; it may run on either node and
always makes the current standby the active one. It prints each step with its
duration as it happens.

Exit codes: 0 done; 1 refused or aborted (nothing changed, the active keeps
serving); 2 usage or configuration error; 3 the outcome needs an operator
(a node is FENCED, or the outcome is unknown after --timeout).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return withCode(exitUsage, errors.New("--timeout must be positive"))
			}
			cfg, sec, err := daemonSetup(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			start := time.Now()
			emit := func(ev api.PromoteEvent) { printEvent(out, ev, start, asJSON) }
			res, err := api.NewClient(localURL(cfg), sec, 10*time.Second).Promote(ctx, api.PromoteRequest{DryRun: dryRun}, emit)
			switch {
			case err != nil && ctx.Err() != nil:
				return withCode(exitOperator, fmt.Errorf("no result within --timeout %s: the switchover may still be running; check pgswitch status", timeout))
			case errors.Is(err, api.ErrOutcomeUnknown):
				return withCode(exitOperator, fmt.Errorf("%w; check pgswitch status on both nodes", err))
			case err != nil:
				return withCode(exitRefused, fmt.Errorf("local daemon: %w", err))
			}
			printResult(out, res, asJSON)
			if res.ExitCode != 0 {
				return withCode(res.ExitCode, errors.New(res.Reason))
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up waiting after this long (the switchover itself is not cancelled)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the preconditions only")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines")
	return cmd
}

func printEvent(w io.Writer, ev api.PromoteEvent, start time.Time, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(ev)
		return
	}
	switch {
	case ev.Step != nil:
		s := ev.Step
		fmt.Fprintf(w, "%8s  %-10s %-18s (+%s)  %s\n", fmtSince(s.At, start), s.Node, s.State, s.Took.Round(time.Millisecond), s.Detail)
	case ev.Message != "":
		fmt.Fprintf(w, "%8s  %s\n", fmtSince(time.Now(), start), ev.Message)
	}
}

func fmtSince(at, start time.Time) string {
	d := at.Sub(start)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Millisecond).String()
}

func printResult(w io.Writer, r api.PromoteResult, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(api.PromoteEvent{Result: &r})
		return
	}
	switch r.Outcome {
	case api.PromoteDone:
		fmt.Fprintf(w, "switchover %s done in %dms: %s is ACTIVE (epoch %d), %s follows it\n", r.SwitchID, r.TookMS, r.To, r.Epoch, r.From)
	case api.PromoteDryRun:
		fmt.Fprintln(w, "dry run: every precondition holds; nothing was changed")
	default:
		fmt.Fprintf(w, "switchover %s: %s after %dms: %s\n", r.SwitchID, r.Outcome, r.TookMS, r.Reason)
	}
}
