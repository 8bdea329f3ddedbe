package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/api"
	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/handshake"
)

func statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show both nodes side by side: state, epoch, LSNs, lag, faults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, sec, err := daemonSetup(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			lc, pc := api.NewClient(localURL(cfg), sec, 5*time.Second), api.NewClient(cfg.Peer.APIURL, sec, 5*time.Second)
			local, lerr := lc.Status(ctx)
			peer, perr := pc.Status(ctx)
			// The standby's replayed position is a position in the
			// active's WAL: read the active again, after the standby, so
			// that the table never shows a replayed position beyond the
			// write position it is compared with.
			if lerr == nil && perr == nil {
				switch {
				case handshake.WantOf(handshake.State(local.State)).Backend == handshake.BackendPrimary && peer.Replication != nil:
					if again, err := lc.Status(ctx); err == nil {
						local = again
					}
				case handshake.WantOf(handshake.State(peer.State)).Backend == handshake.BackendPrimary && local.Replication != nil:
					if again, err := pc.Status(ctx); err == nil {
						peer = again
					}
				}
			}
			if asJSON {
				out := map[string]any{}
				put := func(name string, s api.Status, err error) {
					if err != nil {
						out[name] = map[string]string{"node": name, "error": err.Error()}
					} else {
						out[name] = s
					}
				}
				put(cfg.Node.Name, local, lerr)
				put(cfg.Peer.Name, peer, perr)
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				printStatus(cmd.OutOrStdout(), []string{cfg.Node.Name, cfg.Peer.Name}, []api.Status{local, peer}, []error{lerr, perr})
			}
			if lerr != nil {
				return withCode(exitRefused, fmt.Errorf("local daemon: %w", lerr))
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// localURL is the local daemon's API address.
// daemonSetup is what every command that talks to the daemons does first:
// the configuration, a refusal of another node's state file, and the
// security material (its errors are usage errors).
func daemonSetup(cmd *cobra.Command) (*config.Config, *api.Security, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, nil, err
	}
	if err := checkOwnState(cfg); err != nil {
		return nil, nil, err
	}
	sec, err := api.LoadSecurity(cfg.Security.TokenFile, cfg.Security.TLSCert, cfg.Security.TLSKey, cfg.Security.TLSCA)
	if err != nil {
		return nil, nil, withCode(exitUsage, err)
	}
	return cfg, sec, nil
}

func localURL(cfg *config.Config) string {
	scheme := "http"
	if cfg.Security.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + cfg.Node.APIListen
}

func printStatus(w io.Writer, names []string, sts []api.Status, errs []error) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	row := func(label string, f func(api.Status) string) {
		cells := []string{label}
		for i := range sts {
			if errs[i] != nil {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, f(sts[i]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	header := []string{""}
	for i, n := range names {
		if errs[i] != nil {
			n += " (unreachable)"
		}
		header = append(header, n)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	row("state", func(s api.Status) string { return s.State })
	row("epoch", func(s api.Status) string { return fmt.Sprint(s.Epoch) })
	row("database", func(s api.Status) string {
		if !s.Database.Reachable {
			return "unreachable"
		}
		return s.Database.ClientMode
	})
	row("write lsn", func(s api.Status) string { return orDash(s.Database.WriteLSN) })
	// A standby's replayed position is in the active's WAL, the same
	// coordinates as the active's write lsn.
	row("replayed lsn (active's WAL)", func(s api.Status) string {
		if s.Replication == nil {
			return "-"
		}
		return s.Replication.ReplayedLSN
	})
	row("lag", func(s api.Status) string {
		if s.Replication == nil {
			return "-"
		}
		return fmt.Sprintf("%d B, %.3f s", s.Replication.LagBytes, s.Replication.LagSeconds)
	})
	row("streaming", func(s api.Status) string {
		if s.Replication == nil {
			return "-"
		}
		return fmt.Sprint(s.Replication.Streaming)
	})
	row("vip", func(s api.Status) string {
		if s.VIP == nil {
			return "-"
		}
		if s.VIP.Held {
			return s.VIP.Address + " (held)"
		}
		return "not held"
	})
	row("quorum", func(s api.Status) string {
		switch q := s.Quorum; {
		case q == nil:
			return "-"
		case !q.Reachable:
			return "unreachable: " + q.Error
		case q.Holder == "":
			return "no leader"
		default:
			out := fmt.Sprintf("leader %s, epoch %d, lease %s left", q.Holder, q.Epoch, time.Duration(q.LeaseLeftMS)*time.Millisecond)
			if len(q.Sync) > 0 {
				out += ", sync " + strings.Join(q.Sync, ",")
			}
			return out
		}
	})
	row("divergence", func(s api.Status) string {
		if d := s.Divergence; d != nil {
			return fmt.Sprintf("%d transactions the new active (epoch %d) never applied: %s; then pgswitch rejoin", d.Transactions, d.Epoch, d.Report)
		}
		return "none"
	})
	row("faults", func(s api.Status) string {
		if len(s.Faults) == 0 {
			return "none"
		}
		var r []string
		for _, f := range s.Faults {
			r = append(r, f.Reason)
		}
		return strings.Join(r, ",")
	})
	tw.Flush()
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(w, "%s: %v\n", names[i], err)
		}
	}
	for i, s := range sts {
		if errs[i] == nil && s.LastSwitchover != nil {
			ls := s.LastSwitchover
			fmt.Fprintf(w, "last switchover (%s): %s → %s, %s", names[i], ls.From, ls.To, ls.Outcome)
			if !ls.Finished.IsZero() {
				fmt.Fprintf(w, " in %s", ls.Finished.Sub(ls.Started).Round(time.Millisecond))
			}
			fmt.Fprintln(w)
			break
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
