package login

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/mocks"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type result struct {
	stdout, stderr string
	err            error
}

func runLogin(t *testing.T, reg *mocks.Registry, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := NewLoginCmd(Deps{Registry: reg, Getenv: func(k string) string { return env[k] }})
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(context.Background())
	return result{out.String(), errOut.String(), err}
}

func onlyLogin(t *testing.T, reg *mocks.Registry) mocks.LoginCall {
	t.Helper()
	l := reg.Logins()
	if len(l) != 1 {
		t.Fatalf("%d logins, want 1", len(l))
	}
	return l[0]
}

func TestCredentialPrecedenceAndSave(t *testing.T) {
	const secret = "Login-Secret-4711"
	cases := []struct {
		name     string
		args     []string
		stdin    string
		env      map[string]string
		want     types.Credentials
		save     bool
		warnings int
		line     string // the first stdout line, before "Login Succeeded"
	}{
		{"stdin, default registry", []string{"-u", "bob", "--password-stdin"}, secret + "\n", nil,
			types.Credentials{Username: "bob", Password: secret}, true, 0,
			"Credentials for bob from --password-stdin; saved to docker config (mock)"},
		{"flag password warns", []string{"-u", "bob", "-p", secret}, "", nil,
			types.Credentials{Username: "bob", Password: secret}, true, 1,
			"Credentials for bob from --password; saved to docker config (mock)"},
		{"env, default user", nil, "", map[string]string{auth.EnvPassword: secret},
			types.Credentials{Username: "giteaAdmin", Password: secret}, true, 0,
			"Credentials for giteaAdmin from $IDPBUILDER_REGISTRY_PASSWORD; saved to docker config (mock)"},
		{"flags beat env", []string{"-u", "bob", "--password-stdin"}, secret, map[string]string{auth.EnvUsername: "env", auth.EnvPassword: "envpw"},
			types.Credentials{Username: "bob", Password: secret}, true, 0,
			"Credentials for bob from --password-stdin; saved to docker config (mock)"},
		{"--save=false only verifies", []string{"-u", "bob", "--password-stdin", "--save=false"}, secret, nil,
			types.Credentials{Username: "bob", Password: secret}, false, 0,
			"Credentials for bob from --password-stdin; not saved (--save=false)"},
		{"nothing given: stored ones are verified, not saved again", nil, "", map[string]string{auth.EnvUsername: "env"},
			types.Credentials{}, false, 0,
			"No credentials given or found: gitea.cnoe.localtest.me:8443 accepts anonymous access; nothing saved"},
	}
	t.Run("--timeout reaches the registry", func(t *testing.T) {
		reg := &mocks.Registry{}
		if r := runLogin(t, reg, nil, "", "--timeout", "1m30s"); r.err != nil || onlyLogin(t, reg).Options.Timeout != 90*time.Second {
			t.Errorf("--timeout 1m30s: %v", r.err)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := &mocks.Registry{}
			r := runLogin(t, reg, c.env, c.stdin, c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			l := onlyLogin(t, reg)
			if l.Registry != DefaultRegistry || l.Credentials != c.want || l.Options.Save != c.save {
				t.Errorf("login %+v", l)
			}
			if r.stdout != c.line+"\nLogin Succeeded\n" {
				t.Errorf("stdout %q, want %q", r.stdout, c.line+"\nLogin Succeeded\n")
			}
			if n := strings.Count(r.stderr, auth.PasswordOnCommandLineWarning); n != c.warnings || strings.Count(r.stderr, "\n") != c.warnings {
				t.Errorf("stderr %q, want %d warnings", r.stderr, c.warnings)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Error("the password was printed")
			}
		})
	}
}

func TestLookedUpCredentials(t *testing.T) {
	reg := &mocks.Registry{LoginResultFunc: func(_ context.Context, _ string, creds types.Credentials, opts types.LoginOptions) (types.LoginResult, error) {
		if !creds.IsZero() || opts.Save {
			t.Errorf("creds %v, save %v", creds, opts.Save)
		}
		return types.LoginResult{Scheme: types.AuthBearer, Source: types.SourceCredentialHelper,
			SourceDescription: "credential helper docker-credential-pass"}, nil
	}}
	r := runLogin(t, reg, nil, "", "reg.example:5000")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "Credentials from credential helper docker-credential-pass; already stored there, nothing saved\nLogin Succeeded\n"
	if r.stdout != want || r.stderr != "" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if l := onlyLogin(t, reg); l.Registry != "reg.example:5000" {
		t.Errorf("registry %q", l.Registry)
	}
}

func TestRegistryArgument(t *testing.T) {
	for arg, want := range map[string]string{
		"reg.example:5000":              "reg.example:5000",
		"https://reg.example:5000/":     "reg.example:5000",
		"https://index.docker.io/v1/":   "index.docker.io",
		"http://localhost:5000":         "localhost:5000",
		"gitea.cnoe.localtest.me:8443/": "gitea.cnoe.localtest.me:8443",
	} {
		reg := &mocks.Registry{}
		if r := runLogin(t, reg, nil, "", arg); r.err != nil {
			t.Fatalf("%s: %v", arg, r.err)
		}
		if l := onlyLogin(t, reg); l.Registry != want {
			t.Errorf("%s: registry %q, want %q", arg, l.Registry, want)
		}
	}
}

func TestTLSFlagsAndWarnings(t *testing.T) {
	ca := testenv.CAFile(t)
	reg := &mocks.Registry{}
	r := runLogin(t, reg, nil, "", "h:1", "--ca-file", ca)
	if r.err != nil || r.stderr != "" {
		t.Fatalf("err %v stderr %q", r.err, r.stderr)
	}
	if o := onlyLogin(t, reg).Options; o.TLS.CAFile != ca || o.TLS.Insecure || o.TLS.PlainHTTP {
		t.Errorf("options %+v", o)
	}
	reg = &mocks.Registry{}
	r = runLogin(t, reg, nil, "", "h:1", "--insecure")
	if r.err != nil || r.stderr != "WARNING: TLS certificate verification is disabled for h:1 (--insecure): anyone on the network path could pose as the registry\n" {
		t.Fatalf("err %v stderr %q", r.err, r.stderr)
	}
	if o := onlyLogin(t, reg).Options; !o.TLS.Insecure {
		t.Errorf("options %+v", o)
	}
	reg = &mocks.Registry{}
	r = runLogin(t, reg, nil, "", "h:1", "--plain-http")
	if r.err != nil || !strings.HasPrefix(r.stderr, "WARNING: talking to h:1 over plain HTTP") {
		t.Fatalf("err %v stderr %q", r.err, r.stderr)
	}
	if o := onlyLogin(t, reg).Options; !o.TLS.PlainHTTP {
		t.Errorf("options %+v", o)
	}
}

func TestErrors(t *testing.T) {
	const secret = "Err-Secret-0815"
	refuse := func(context.Context, string, types.Credentials, types.LoginOptions) (types.LoginResult, error) {
		return types.LoginResult{}, &types.Error{Code: types.StatusUnauthorized, Message: "unauthorized: h:1 refused\nthe credentials"}
	}
	cases := []struct {
		args  []string
		stdin string
		fn    func(context.Context, string, types.Credentials, types.LoginOptions) (types.LoginResult, error)
		want  []string
	}{
		{[]string{"h:1", "-u", "bob", "--password-stdin"}, secret, refuse, []string{"unauthorized: h:1 refused the credentials"}},
		{[]string{"h:1"}, "", refuse, []string{"unauthorized", "idpbuilder login h:1", "--password-stdin"}},
		{[]string{"h:1", "-u", "bob"}, "", nil, []string{"--username needs a password"}},
		{[]string{"h:1", "-p", secret, "--password-stdin"}, "", nil, []string{"mutually exclusive"}},
		{[]string{"h:1", "--ca-file", "/no/such/ca.pem"}, "", nil, []string{"CA file"}},
		{[]string{"a/b"}, "", nil, []string{"want HOST[:PORT]"}},
		{[]string{"a", "b"}, "", nil, []string{"accepts at most 1 arg"}},
		{[]string{"--no-such-flag"}, "", nil, []string{"unknown flag"}},
	}
	for _, c := range cases {
		reg := &mocks.Registry{LoginResultFunc: c.fn}
		r := runLogin(t, reg, nil, c.stdin, c.args...)
		if r.err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.err.Error(), w) {
				t.Errorf("%v: err %q lacks %q", c.args, r.err, w)
			}
		}
		if strings.Contains(r.err.Error(), "\n") || strings.Contains(r.err.Error()+r.stdout+r.stderr, secret) {
			t.Errorf("%v: err %q stdout %q stderr %q", c.args, r.err, r.stdout, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", c.args, r.stdout)
		}
		if c.fn == nil && len(reg.Logins()) != 0 {
			t.Errorf("%v: logged in anyway", c.args)
		}
	}
}

func TestLoginCmdIsReady(t *testing.T) {
	if LoginCmd.Use != "login [flags] [REGISTRY]" || !LoginCmd.SilenceUsage || !LoginCmd.SilenceErrors {
		t.Errorf("LoginCmd %q usage %v errors %v", LoginCmd.Use, LoginCmd.SilenceUsage, LoginCmd.SilenceErrors)
	}
	for _, name := range []string{"username", "password", "password-stdin", "ca-file", "insecure", "plain-http", "save"} {
		if LoginCmd.Flags().Lookup(name) == nil {
			t.Errorf("no --%s flag", name)
		}
	}
	if fl := LoginCmd.Flags().Lookup("save"); fl == nil || fl.DefValue != "true" {
		t.Errorf("--save should default to true")
	}
	for short, long := range map[string]string{"u": "username", "p": "password"} {
		if fl := LoginCmd.Flags().ShorthandLookup(short); fl == nil || fl.Name != long {
			t.Errorf("-%s is not --%s", short, long)
		}
	}
}
