package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/setup"
	"github.com/pgswitch/pgswitch/internal/state"
)

// Exit codes (SPEC §4).
const (
	exitOK       = 0
	exitRefused  = 1 // refused or aborted, nothing changed
	exitUsage    = 2 // usage or configuration error
	exitOperator = 3 // the outcome needs an operator
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var refusal *setup.Refusal
	var cerr *config.Error
	switch {
	case errors.Is(err, state.ErrForeignRecord):
		// Another node's record: a configuration error, whatever the
		// command wrapped it in (SPEC §5).
		fmt.Fprintf(stderr, "pgswitch: %v\n", err)
		return exitUsage
	case errors.As(err, &ee):
		if ee.code != exitOK {
			fmt.Fprintf(stderr, "pgswitch: %v\n", ee.err)
		}
		return ee.code
	case errors.As(err, &cerr):
		fmt.Fprintf(stderr, "pgswitch: %v\n", err)
		return exitUsage
	case errors.As(err, &refusal):
		fmt.Fprintf(stderr, "pgswitch: refused: %v\n", err)
		return exitRefused
	default:
		// Flag and argument errors from cobra are usage errors.
		fmt.Fprintf(stderr, "pgswitch: %v\n", err)
		return exitUsage
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "pgswitch",
		Short:         "Failover manager for a PostgreSQL primary/standby pair",
		Long:          "pgswitch keeps a standby in sync by logical replication and switches roles through a negotiated handshake.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		versionCmd(),
		checkCmd(),
		initCmd(),
		daemonCmd(),
		statusCmd(),
		promoteCmd(),
		failoverCmd(),
		diagramCmd(),
	)
	return root
}

// loadConfig reads --config; any problem is a usage error (exit 2).
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		return nil, withCode(exitUsage, errors.New("--config is required"))
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	return cfg, nil
}

// checkOwnState refuses (exit 2) a state directory that holds another
// node's record, for the commands that do not load the record themselves.
func checkOwnState(cfg *config.Config) error {
	if err := state.CheckOwner(cfg.Node.StateDir, cfg.Node.Name); errors.Is(err, state.ErrForeignRecord) {
		return withCode(exitUsage, err)
	}
	return nil
}

func addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "configuration file (YAML)")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
