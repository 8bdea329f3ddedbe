package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/pgswitch/pgswitch/internal/config"
	"github.com/pgswitch/pgswitch/internal/daemon"
)

// reloadOnHUP reads the configuration file again on every SIGHUP and hands
// it to the daemon; a file that does not load changes nothing. The returned
// function stops listening.
func reloadOnHUP(ctx context.Context, path string, d *daemon.Daemon, log zerolog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-quit:
				return
			case <-hup:
				cfg, err := config.Load(path)
				if err != nil {
					log.Error().Err(err).Msg("SIGHUP: configuration not reloaded")
					continue
				}
				d.Reload(cfg)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}
