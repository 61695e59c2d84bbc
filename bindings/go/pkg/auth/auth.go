// Package auth decides which registry credentials a push or login passes to the library.
//
// Precedence, highest first:
//  1. command-line flags: --password-stdin or --password (with --username);
//  2. the environment: IDPBUILDER_REGISTRY_PASSWORD (with IDPBUILDER_REGISTRY_USERNAME);
//  3. nothing: no credentials are passed, and the push library looks them up the way docker
//     does (the docker config's auths, credHelpers and credsStore, then the containers auth
//     file);
//  4. anonymous, when the library finds nothing either.
//
// The user name comes from --username, else IDPBUILDER_REGISTRY_USERNAME, else the default
// giteaAdmin (IDPBuilder's Gitea admin) — but only when there is a password: a user name
// alone passes nothing. --username without any password is an error (it would otherwise be
// ignored silently). The password is never logged or printed by this package.
package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Environment variables read by Resolve.
const (
	EnvUsername = "IDPBUILDER_REGISTRY_USERNAME"
	EnvPassword = "IDPBUILDER_REGISTRY_PASSWORD"
)

// DefaultUsername is IDPBuilder's Gitea admin user, used when a password is given without a
// user name.
const DefaultUsername = "giteaAdmin"

// PasswordOnCommandLineWarning is printed (to stderr) when --password is used, as docker does.
const PasswordOnCommandLineWarning = "WARNING! Using --password via the CLI is insecure. Use --password-stdin."

// maxPasswordSize bounds what --password-stdin reads.
const maxPasswordSize = 64 << 10

// Where a value came from (Resolved.UsernameFrom, Resolved.PasswordFrom).
const (
	FromFlag    = "flag"    // --username or --password
	FromStdin   = "stdin"   // --password-stdin
	FromEnv     = "env"     // IDPBUILDER_REGISTRY_USERNAME or IDPBUILDER_REGISTRY_PASSWORD
	FromDefault = "default" // DefaultUsername
	FromNone    = ""        // not given: the library looks credentials up
)

// Input is where credentials may come from.
type Input struct {
	// Username and Password are the flag values; UsernameSet and PasswordSet say whether the
	// flags were given (an explicitly empty value still wins over the environment).
	Username    string
	UsernameSet bool
	Password    string
	PasswordSet bool
	// PasswordStdin reads the password from Stdin (--password-stdin).
	PasswordStdin bool
	Stdin         io.Reader
	// Context, when set, abandons the read from Stdin once it is done (Ctrl-C while the
	// command waits for a password that never comes).
	Context context.Context
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Resolved is the outcome of Resolve.
type Resolved struct {
	// Credentials to pass to the library; zero when none were given (the library then looks
	// them up, see the package documentation).
	Credentials types.Credentials
	// Warnings are for stderr (PasswordOnCommandLineWarning); never secret.
	Warnings []string
	// UsernameFrom and PasswordFrom say where the values came from (FromFlag, FromStdin,
	// FromEnv, FromDefault, or FromNone), for messages and debug logs.
	UsernameFrom, PasswordFrom string
}

// Explicit reports whether credentials were given (by flags or the environment).
func (r Resolved) Explicit() bool { return !r.Credentials.IsZero() }

// PasswordSource names where the password came from, for messages: "--password-stdin",
// "--password", "$IDPBUILDER_REGISTRY_PASSWORD", or "" when none was given.
func (r Resolved) PasswordSource() string {
	switch r.PasswordFrom {
	case FromStdin:
		return "--password-stdin"
	case FromFlag:
		return "--password"
	case FromEnv:
		return "$" + EnvPassword
	}
	return ""
}

// Resolve picks the credentials by precedence. With no password anywhere it returns zero
// credentials, so that the library looks them up (docker config, helpers, auth file).
func Resolve(in Input) (Resolved, error) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var r Resolved
	if in.PasswordStdin && in.PasswordSet {
		return r, errors.New("--password and --password-stdin are mutually exclusive")
	}

	var password string
	switch {
	case in.PasswordStdin:
		if in.Stdin == nil {
			return r, errors.New("--password-stdin: no standard input")
		}
		p, err := readPasswordContext(in.Context, in.Stdin)
		if err != nil {
			return r, err
		}
		password, r.PasswordFrom = p, FromStdin
	case in.PasswordSet:
		if in.Password == "" {
			return r, errors.New("--password is empty")
		}
		password, r.PasswordFrom = in.Password, FromFlag
		r.Warnings = append(r.Warnings, PasswordOnCommandLineWarning)
	case getenv(EnvPassword) != "":
		password, r.PasswordFrom = getenv(EnvPassword), FromEnv
	}

	if password == "" {
		if in.UsernameSet {
			return Resolved{}, fmt.Errorf("--username needs a password: use --password-stdin, --password or %s "+
				"(without --username, credentials are looked up in the docker config and credential helpers)", EnvPassword)
		}
		// Nothing given: the library looks credentials up (and goes anonymous without any).
		return Resolved{Warnings: r.Warnings}, nil
	}

	var username string
	switch {
	case in.UsernameSet:
		username, r.UsernameFrom = in.Username, FromFlag
	case getenv(EnvUsername) != "":
		username, r.UsernameFrom = getenv(EnvUsername), FromEnv
	default:
		username, r.UsernameFrom = DefaultUsername, FromDefault
	}
	if username == "" {
		return Resolved{}, errors.New("a password was given but the username is empty")
	}
	r.Credentials = types.Credentials{Username: username, Password: password}
	return r, nil
}

// readPasswordContext is ReadPassword, given up when ctx is done: a read from a terminal or
// pipe cannot be interrupted, so it goes on in the background and its result is dropped.
func readPasswordContext(ctx context.Context, r io.Reader) (string, error) {
	if ctx == nil {
		return ReadPassword(r)
	}
	type read struct {
		password string
		err      error
	}
	done := make(chan read, 1)
	go func() {
		p, err := ReadPassword(r)
		done <- read{p, err}
	}()
	select {
	case got := <-done:
		return got.password, got.err
	case <-ctx.Done():
		return "", fmt.Errorf("--password-stdin: %w", context.Cause(ctx))
	}
}

// ReadPassword reads a password from r as docker login --password-stdin does: everything up
// to EOF, without the trailing newline (\n or \r\n). An empty password is an error.
func ReadPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), maxPasswordSize+1))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if len(b) > maxPasswordSize {
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordSize)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if p == "" {
		return "", errors.New("--password-stdin: the password on stdin is empty")
	}
	return p, nil
}
