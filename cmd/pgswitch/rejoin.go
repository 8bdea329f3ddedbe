package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/api"
)

func rejoinCmd() *cobra.Command {
	var (
		timeout time.Duration
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "rejoin",
		Short: "Make an old active with lost transactions the new active's standby",
		Long: `rejoin runs on an old active that came back behind a later epoch and wrote a
lost-transaction report (SPEC §9 rule 5): it re-copies from the new active the
tables those transactions touched — no others — and follows the new active
from its reverse slot as STANDBY. Reconcile the report first: after rejoin
those transactions are gone from this node too. It refuses, changing nothing,
while it is not safe to (no report, the new active not ACTIVE in the report's
epoch, no reverse slot).

Exit codes: 0 done; 1 refused, nothing changed; 2 usage or configuration
error; 3 the outcome needs an operator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return withCode(exitUsage, fmt.Errorf("--timeout must be positive"))
			}
			cfg, sec, err := daemonSetup(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := api.NewClient(localURL(cfg), sec, 0).Rejoin(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				return withCode(exitOperator, fmt.Errorf("no result within --timeout %s: the re-copy may still be running; check pgswitch status", timeout))
			case err != nil:
				return withCode(exitRefused, fmt.Errorf("local daemon: %w", err))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_ = json.NewEncoder(out).Encode(res)
			} else if res.Outcome == api.PromoteDone {
				fmt.Fprintf(out, "rejoined in %dms: %s follows %s (epoch %d); %s\n", res.TookMS, res.From, res.To, res.Epoch, res.Reason)
			}
			if res.ExitCode != 0 {
				return withCode(res.ExitCode, fmt.Errorf("rejoin %s: %s", res.Outcome, res.Reason))
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting after this long")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
