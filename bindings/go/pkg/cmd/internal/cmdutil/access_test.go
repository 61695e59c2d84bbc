package cmdutil

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
)

// newAccessCmd is a command with the access flags, parsed from args, reading stdin.
func newAccessCmd(t *testing.T, stdin string, args ...string) (*cobra.Command, *Access) {
	t.Helper()
	a := &Access{}
	cmd := &cobra.Command{Use: "x"}
	a.AddFlags(cmd)
	cmd.SetIn(strings.NewReader(stdin))
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return cmd, a
}

func TestAccessFlagsAndCredentials(t *testing.T) {
	cmd, a := newAccessCmd(t, "Secret-2\n", "-u", "alice", "--password-stdin", "--insecure")
	for _, name := range []string{"username", "password", "password-stdin", "ca-file", "insecure", "plain-http"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("flag --%s is missing", name)
		}
	}
	o, creds, err := a.Resolve(cmd, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if creds.Credentials.Username != "alice" || creds.Credentials.Password != "Secret-2" ||
		creds.PasswordFrom != auth.FromStdin || creds.UsernameFrom != auth.FromFlag {
		t.Errorf("credentials: %+v", creds)
	}
	if !o.Insecure || o.PlainHTTP || o.CAFile != "" {
		t.Errorf("TLS: %+v", o)
	}
}

func TestAccessFromEnvironment(t *testing.T) {
	cmd, a := newAccessCmd(t, "")
	env := map[string]string{auth.EnvPassword: "Secret-3"}
	_, creds, err := a.Resolve(cmd, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if creds.Credentials.Username != auth.DefaultUsername || creds.PasswordFrom != auth.FromEnv {
		t.Errorf("credentials: %+v", creds)
	}
	_, none, err := a.Resolve(cmd, func(string) string { return "" })
	if err != nil || none.Explicit() {
		t.Errorf("without flags or environment nothing is given: %+v, %v", none, err)
	}
}

// Trust flags are checked before stdin is read: a bad --ca-file leaves the password unread.
func TestAccessTLSCheckedFirst(t *testing.T) {
	stdin := strings.NewReader("Secret-4")
	cmd, a := newAccessCmd(t, "", "--ca-file", "/nonexistent/ca.crt", "--password-stdin")
	cmd.SetIn(stdin)
	if _, _, err := a.Resolve(cmd, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("missing CA file: %v", err)
	}
	if stdin.Len() != len("Secret-4") {
		t.Error("stdin was read although the trust flags were wrong")
	}
	cmd, a = newAccessCmd(t, "", "--ca-file", "x.crt", "--plain-http")
	if _, _, err := a.Resolve(cmd, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "--plain-http") {
		t.Errorf("--ca-file with --plain-http: %v", err)
	}
}
