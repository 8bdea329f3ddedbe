package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/api"
)

func failoverCmd() *cobra.Command {
	var (
		acceptLoss bool
		timeout    time.Duration
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Take over on the standby when the active is lost, without the proof of catch-up",
		Long: `failover asks the standby's own daemon to take over although it cannot prove
that it holds every acknowledged commit (SPEC §9 rule 4): run it only when you
know the active is gone. It refuses, changing nothing, while the active's
daemon answers or its lease still holds the leader key. Without a quorum it
is the only way to a takeover.

Exit codes: 0 done; 1 refused, nothing changed; 2 usage or configuration
error (--accept-data-loss missing); 3 the outcome needs an operator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !acceptLoss {
				return withCode(exitUsage, errors.New("--accept-data-loss is required: commits the active acknowledged and this standby never received are lost"))
			}
			if timeout <= 0 {
				return withCode(exitUsage, errors.New("--timeout must be positive"))
			}
			cfg, sec, err := daemonSetup(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := api.NewClient(localURL(cfg), sec, 0).Failover(ctx, api.FailoverRequest{AcceptDataLoss: true})
			switch {
			case err != nil && ctx.Err() != nil:
				return withCode(exitOperator, fmt.Errorf("no result within --timeout %s: the takeover may still be running; check pgswitch status", timeout))
			case err != nil:
				return withCode(exitRefused, fmt.Errorf("local daemon: %w", err))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_ = json.NewEncoder(out).Encode(res)
			} else if res.Outcome == api.PromoteDone {
				fmt.Fprintf(out, "failover %s done in %dms: %s is ACTIVE (epoch %d); %s must not serve again until pgswitch rejoin\n",
					res.SwitchID, res.TookMS, res.To, res.Epoch, res.From)
			}
			if res.ExitCode != 0 {
				return withCode(res.ExitCode, fmt.Errorf("failover %s: %s", res.Outcome, res.Reason))
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().BoolVar(&acceptLoss, "accept-data-loss", false, "take over although commits the active acknowledged may be missing here")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up waiting after this long (the takeover itself is not cancelled)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
