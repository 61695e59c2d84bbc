// Package cmd holds the root command, as IDPBuilder's pkg/cmd/root.go does.
package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/cmd/login"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/cmd/push"
	"github.com/spf13/cobra"
)

const logLevelUsage = "Set the log verbosity. Supported values are: debug, info, warn, and error."

var logLevel string

var rootCmd = &cobra.Command{
	Use:   "idpbuilder",
	Short: "Manage reference IDPs",
	// Errors are printed once, by Execute.
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		var level slog.Level
		switch strings.ToLower(logLevel) {
		case "debug":
			level = slog.LevelDebug
		case "info":
			level = slog.LevelInfo
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		default:
			return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		return nil
	},
}

func init() {
	rootCmd.PersistentFlags().StringVarP(&logLevel, "log-level", "l", "info", logLevelUsage)
	rootCmd.AddCommand(push.PushCmd)
	rootCmd.AddCommand(login.LoginCmd)
}

// Execute runs the command line and returns the exit code: errors are printed once, as one
// line "Error: <message>" on stderr, and give exit code 1.
func Execute(ctx context.Context) int { return push.Execute(ctx, rootCmd) }
