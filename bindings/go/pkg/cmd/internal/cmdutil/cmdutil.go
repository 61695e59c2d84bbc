// Package cmdutil holds what the push and login commands share: one-line errors, warnings and
// the hints added to errors a user can fix with a flag.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// lineErr keeps an error to one line for the terminal while keeping errors.Is/As working.
type lineErr struct{ err error }

func (e lineErr) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(e.err.Error(), "\n", " ")), " ")
}
func (e lineErr) Unwrap() error { return e.err }

// OneLine returns err unchanged when its message is one line, else err with its lines joined.
func OneLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	return lineErr{err}
}

// Warn prints each non-empty warning as one line on w.
func Warn(w io.Writer, warnings ...string) {
	for _, s := range warnings {
		if s != "" {
			fmt.Fprintln(w, s)
		}
	}
}

// RegistryOf is the host[:port] of a reference host[:port]/path[:tag][@digest].
func RegistryOf(ref string) string {
	host, _, _ := strings.Cut(ref, "/")
	return host
}

// ExplainUnauthorized adds what the user can do to an unauthorized error when no credentials
// were given (creds) and the library looked them up; other errors come back unchanged.
func ExplainUnauthorized(err error, creds auth.Resolved, registry string) error {
	if !errors.Is(err, types.ErrUnauthorized) || creds.Explicit() {
		return err
	}
	return fmt.Errorf("%w (give credentials with --username and --password-stdin, set %s, "+
		"or store them with `idpbuilder login %s`)", err, auth.EnvPassword, registry)
}

// ContextAndLogger is what a command runs with: its context (Background when it was run
// without one) and logger (slog.Default when logger is nil).
func ContextAndLogger(cmd *cobra.Command, logger *slog.Logger) (context.Context, *slog.Logger) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if logger == nil {
		logger = slog.Default()
	}
	return ctx, logger
}
