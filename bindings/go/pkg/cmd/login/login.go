// Package login is the `idpbuilder login` Cobra command: it checks registry credentials
// against a registry (IDPBuilder's Gitea by default) through the Rust push library and, like
// `docker login`, stores them in the docker config so that later pushes need no flags.
//
// IDPBuilder adds it with one line: rootCmd.AddCommand(login.LoginCmd).
//
// Like the push command it returns its errors instead of printing them (SilenceErrors,
// SilenceUsage), so that the host prints each error once, as one line, and exits 1.
package login

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/cmd/internal/cmdutil"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/registry"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// DefaultRegistry is IDPBuilder's Gitea.
const DefaultRegistry = cmdutil.DefaultRegistry

// Succeeded is the last line a successful login prints on stdout, as docker login does.
const Succeeded = "Login Succeeded"

const (
	loginUse   = "login [flags] [REGISTRY]"
	loginShort = "Log in to IDPBuilder's Gitea registry (or any OCI registry)"
	loginLong  = `Check credentials against a registry and store them as docker login does.

REGISTRY is HOST[:PORT]; it defaults to IDPBuilder's Gitea, gitea.cnoe.localtest.me:8443.

Credentials come from --password-stdin (or --password) with --username, else from
IDPBUILDER_REGISTRY_PASSWORD with IDPBUILDER_REGISTRY_USERNAME; the user defaults to giteaAdmin
when only a password is given. (` + "`idpbuilder get secrets -p gitea`" + ` shows Gitea's password.)
Given credentials are verified (including a token exchange when the registry uses tokens) and,
unless --save=false, stored like docker login stores them: through the credential helper the
docker config names (credHelpers or credsStore), else in the docker config's auths
($DOCKER_CONFIG/config.json or ~/.docker/config.json, file mode 0600). ` + "`idpbuilder push`" + `,
docker, skopeo and crane then find them.

Without credentials, the ones already stored (docker config, credential helpers,
$REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json) are verified.

The registry's certificate is trusted through --ca-file, the certs.d directories
(/etc/docker/certs.d/HOST:PORT/ca.crt and the like), SSL_CERT_FILE, or the system roots.

On success stdout says where the credentials came from and where they were stored, then
"Login Succeeded".`
	loginExample = `  # Log in to IDPBuilder's Gitea with its admin password, trusting IDPBuilder's CA
  printf '%s' "$GITEA_PASSWORD" | idpbuilder login -u giteaAdmin --password-stdin --ca-file ca.crt

  # Check the stored credentials of a registry without changing anything
  idpbuilder login registry.example:5000 --save=false`

	saveUsage = "Store the verified credentials as docker login does; --save=false only verifies them"
)

// Deps are what the command works with; tests replace them with fakes.
type Deps struct {
	// Registry checks (and stores) credentials.
	Registry types.LoginReporter
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Logger logs debug details; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultDeps uses the Rust push library and the process environment.
func DefaultDeps() Deps {
	return Deps{Registry: &registry.Client{}, Getenv: os.Getenv}
}

// LoginCmd is `idpbuilder login` with the default dependencies.
var LoginCmd = NewLoginCmd(DefaultDeps())

type flags struct {
	access cmdutil.Access
	save   bool
}

// NewLoginCmd returns a login command using deps.
func NewLoginCmd(deps Deps) *cobra.Command {
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	f := &flags{}
	cmd := &cobra.Command{
		Use:           loginUse,
		Short:         loginShort,
		Long:          loginLong,
		Example:       loginExample,
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := DefaultRegistry
			if len(args) == 1 {
				reg = args[0]
			}
			return cmdutil.OneLine(run(cmd, deps, f, reg))
		},
	}
	f.access.AddFlags(cmd)
	cmd.Flags().BoolVar(&f.save, "save", true, saveUsage)
	return cmd
}

// registryHost accepts what docker login accepts for a registry: HOST[:PORT], optionally as a
// URL (https://HOST[:PORT]/ or https://HOST/v1/), and returns HOST[:PORT].
func registryHost(arg string) (string, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(arg, "https://"), "http://")
	s = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "/"), "/v1"), "/v2")
	if s == "" || strings.ContainsAny(s, "/ \t@") {
		return "", fmt.Errorf("registry %q: want HOST[:PORT]", arg)
	}
	return s, nil
}

func run(cmd *cobra.Command, deps Deps, f *flags, arg string) error {
	ctx, log := cmdutil.ContextAndLogger(cmd, deps.Logger)
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()

	// Check the flags before touching stdin or the network.
	reg, err := registryHost(arg)
	if err != nil {
		return err
	}
	if deps.Registry == nil {
		return errors.New("no registry client configured")
	}
	tlsOptions, creds, err := f.access.Resolve(cmd, deps.Getenv)
	if err != nil {
		return err
	}
	cmdutil.Warn(stderr, creds.Warnings...)
	cmdutil.Warn(stderr, tlsOptions.Warning(reg))

	// Only given credentials are stored: found ones are already where the lookup found them.
	save := f.save && creds.Explicit()
	if creds.Explicit() {
		log.Debug("login", "registry", reg, "username", creds.Credentials.Username,
			"usernameFrom", creds.UsernameFrom, "passwordFrom", creds.PasswordFrom, "save", save)
	} else {
		log.Debug("login: no credentials given; verifying those in the docker config, credential helpers "+
			"or containers auth file", "registry", reg)
	}
	res, err := deps.Registry.LoginWithResult(ctx, reg, creds.Credentials, types.LoginOptions{TLS: tlsOptions, Save: save, Timeout: f.access.Timeout()})
	if err != nil {
		return cmdutil.ExplainUnauthorized(err, creds, reg)
	}
	log.Debug("login verified", "registry", reg, "scheme", res.Scheme.String(), "source", res.SourceDescription, "savedTo", res.SavedTo)

	if _, err := fmt.Fprintln(stdout, describe(res, creds, f.save, reg)); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, Succeeded)
	return err
}

// describe is the line saying where the credentials came from and where they went.
func describe(res types.LoginResult, creds auth.Resolved, save bool, reg string) string {
	var from string
	switch {
	case creds.Explicit():
		from = fmt.Sprintf("Credentials for %s from %s", creds.Credentials.Username, creds.PasswordSource())
	case res.Source == types.SourceAnonymous:
		return "No credentials given or found: " + reg + " accepts anonymous access; nothing saved"
	default:
		from = "Credentials from " + res.SourceDescription
	}
	switch {
	case res.SavedTo != "":
		return from + "; saved to " + res.SavedTo
	case creds.Explicit() && !save:
		return from + "; not saved (--save=false)"
	case creds.Explicit():
		return from + "; not saved"
	}
	return from + "; already stored there, nothing saved"
}
