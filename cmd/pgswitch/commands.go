package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/check"
	"github.com/pgswitch/pgswitch/internal/daemon"
	"github.com/pgswitch/pgswitch/internal/handshake"
	"github.com/pgswitch/pgswitch/internal/setup"
)

// version is set with -ldflags "-X main.version=…" by make build.
var version = "dev"

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "pgswitch %s\n", versionString())
			return nil
		},
	}
}

func checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Preflight both nodes; changes nothing; non-zero exit on any problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := checkOwnState(cfg); err != nil {
				return err
			}
			report, err := check.Run(cmd.Context(), cfg)
			if report != nil {
				report.Print(cmd.OutOrStdout())
			}
			if err != nil {
				return withCode(exitRefused, err)
			}
			if n := report.Failed(); n > 0 {
				return withCode(exitRefused, fmt.Errorf("check found %d problem(s)", n))
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	return cmd
}

func initCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Prepare this node as the primary or the standby (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role != "primary" && role != "standby" {
				return withCode(exitUsage, fmt.Errorf("--role must be primary or standby, not %q", role))
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			o := setup.Options{Config: cfg, Log: cfg.Logger(cmd.ErrOrStderr()), Out: cmd.OutOrStdout(), Terminal: isTerminal(cmd.OutOrStdout())}
			if role == "primary" {
				err = setup.InitPrimary(cmd.Context(), o)
			} else {
				err = setup.InitStandby(cmd.Context(), o)
			}
			var refusal *setup.Refusal
			if err != nil && !errors.As(err, &refusal) {
				return withCode(exitRefused, err)
			}
			return err
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().StringVar(&role, "role", "", "primary or standby")
	return cmd
}

func daemonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node's daemon (SIGTERM stops it; the VIP and roles are left as they are)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			daemon.Version = versionString()
			if os.Getenv("GOMAXPROCS") == "" {
				// The daemon's hot path is a ping-pong with the local
				// backend. With more than one P, idle Ps spin looking for
				// work each time it waits, taking CPU from PostgreSQL on
				// the same host (make bench on 2 cores: the daemon used
				// about a third less CPU with one P, and replay lag spikes
				// were shorter). The environment variable still decides.
				runtime.GOMAXPROCS(1)
			}
			log, level := cfg.ReloadableLogger(cmd.ErrOrStderr())
			d, err := daemon.New(cfg, log, level)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if prof := os.Getenv("PGSWITCHTEST_CPUPROFILE"); prof != "" {
				// Profiling for development and the benchmarks, not a
				// configuration key (hence outside the PGSWITCH_ namespace).
				if f, err := os.Create(prof); err == nil {
					_ = pprof.StartCPUProfile(f)
					defer func() { pprof.StopCPUProfile(); f.Close() }()
				}
			}
			path, _ := cmd.Flags().GetString("config")
			stop := reloadOnHUP(cmd.Context(), path, d, log)
			defer stop()
			return withCode(exitRefused, d.Run(cmd.Context()))
		},
	}
	addConfigFlag(cmd)
	return cmd
}

func diagramCmd() *cobra.Command {
	var plain bool
	cmd := &cobra.Command{
		Use:    "diagram",
		Short:  "Print the handshake's state machine (Mermaid, or a plain table)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if plain {
				fmt.Fprint(cmd.OutOrStdout(), handshake.Table())
			} else {
				fmt.Fprint(cmd.OutOrStdout(), handshake.Mermaid())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&plain, "table", false, "plain table with the reason for each transition")
	return cmd
}
