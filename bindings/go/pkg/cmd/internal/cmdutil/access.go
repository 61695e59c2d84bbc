package cmdutil

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
)

// DefaultRegistry is IDPBuilder's Gitea.
const DefaultRegistry = "gitea.cnoe.localtest.me:8443"

const (
	usernameUsage      = "Registry user name (default $IDPBUILDER_REGISTRY_USERNAME, else giteaAdmin when a password is given)"
	passwordUsage      = "Registry password or token; insecure on the command line, prefer --password-stdin or $IDPBUILDER_REGISTRY_PASSWORD"
	passwordStdinUsage = "Read the registry password from stdin"
	insecureUsage      = "Skip TLS certificate verification (for example Gitea's self-signed certificate)"
	caFileUsage        = "PEM file with CA certificates to trust (for example IDPBuilder's idpbuilder-cert ca.crt)"
	plainHTTPUsage     = "Talk to the registry over plain HTTP"
	timeoutUsage       = "How long the registry may stay silent (and the longest wait to connect) before the command fails, e.g. 30s or 5m; 0 for the defaults (2m, 15s to connect)"
)

// Access holds the flags with which push and login reach a registry: who the user is
// (--username, --password, --password-stdin) and how the registry is trusted (--ca-file,
// --insecure, --plain-http), and how long it may take to answer (--timeout). Both commands
// take them with the same names and meanings.
type Access struct {
	username, password  string
	passwordStdin       bool
	caFile              string
	insecure, plainHTTP bool
	timeout             time.Duration
}

// AddFlags registers the access flags on cmd.
func (a *Access) AddFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&a.username, "username", "u", "", usernameUsage)
	fl.StringVarP(&a.password, "password", "p", "", passwordUsage)
	fl.BoolVar(&a.passwordStdin, "password-stdin", false, passwordStdinUsage)
	fl.StringVar(&a.caFile, "ca-file", "", caFileUsage)
	fl.BoolVar(&a.insecure, "insecure", false, insecureUsage)
	fl.BoolVar(&a.plainHTTP, "plain-http", false, plainHTTPUsage)
	fl.DurationVar(&a.timeout, "timeout", 0, timeoutUsage)
}

// Timeout is --timeout (0: the library's defaults).
func (a *Access) Timeout() time.Duration { return a.timeout }

// Resolve checks the trust flags, then resolves the credentials the flags and the environment
// give (reading stdin for --password-stdin). A missing --ca-file, or --ca-file with
// --plain-http, is an error before stdin is read or the network touched. With no credentials
// given, creds is not Explicit and the push library looks them up as docker does.
func (a *Access) Resolve(cmd *cobra.Command, getenv func(string) string) (idptls.Options, auth.Resolved, error) {
	o := idptls.Options{CAFile: a.caFile, Insecure: a.insecure, PlainHTTP: a.plainHTTP}
	if err := o.Validate(); err != nil {
		return o, auth.Resolved{}, err
	}
	if a.timeout < 0 {
		return o, auth.Resolved{}, fmt.Errorf("--timeout %v is negative; give a duration such as 30s, or 0 for the defaults", a.timeout)
	}
	changed := cmd.Flags().Changed
	creds, err := auth.Resolve(auth.Input{
		Username: a.username, UsernameSet: changed("username"),
		Password: a.password, PasswordSet: changed("password"),
		PasswordStdin: a.passwordStdin, Stdin: cmd.InOrStdin(),
		Context: cmd.Context(), Getenv: getenv,
	})
	return o, creds, err
}
