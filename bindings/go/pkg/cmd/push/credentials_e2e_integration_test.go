//go:build integration

package push

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
)

// isolated is an environment for the binary that finds no credentials and no certs.d trust
// of the user's: an empty docker config directory, a containers auth file with no entries, an empty certs.d list, no SSL_CERT_FILE, and no IDPBUILDER_REGISTRY_* variables.
// Entries appended later win (os/exec keeps the last value of a duplicated variable).
func isolated(t *testing.T) (dockerConfig string, env []string) {
	t.Helper()
	dir := t.TempDir()
	dockerConfig = filepath.Join(dir, "docker")
	certsD := filepath.Join(dir, "certs.d")
	for _, d := range []string{dockerConfig, certsD} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	authFile := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(authFile, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dockerConfig, []string{
		"DOCKER_CONFIG=" + dockerConfig,
		"REGISTRY_AUTH_FILE=" + authFile,
		"XDG_RUNTIME_DIR=" + dir,
		"IDP_PUSH_CERTS_D=" + certsD,
		"SSL_CERT_FILE=",
		auth.EnvUsername + "=",
		auth.EnvPassword + "=",
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// (a) The "done when": with only a credential helper configured and trust only
// through certs.d, a push with no credential or TLS flags works.
func TestE2ECredentialHelperAndCertsD(t *testing.T) {
	env := testenv.Load(t)
	dockerConfig, base := isolated(t)
	helperDir := t.TempDir()
	helperLog := testenv.CredentialHelper(t, helperDir, "idptest", env.Username, env.Password)
	config := `{"credHelpers": {"` + env.Registry + `": "idptest"}}`
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	certsD := testenv.CertsD(t, env.Registry, env.CA)
	runEnv := append(base, "PATH="+helperDir+string(os.PathListSeparator)+os.Getenv("PATH"), "IDP_PUSH_CERTS_D="+certsD)

	dest := env.Registry + "/giteaadmin/helper:v1"
	r := runBinary(t, "", runEnv, "push", env.FixtureLayout(), "--dest", dest)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	m := pinned.FindStringSubmatch(lastLine(r.stdout))
	if m == nil || m[1] != dest {
		t.Fatalf("stdout %q, want %s@sha256:...", r.stdout, dest)
	}
	if got, err := env.SkopeoDigest(t, dest); err != nil || got != m[2] {
		t.Fatalf("skopeo: %s, %v; idpbuilder printed %s", got, err, m[2])
	}
	asked, err := os.ReadFile(helperLog)
	if err != nil || !strings.Contains(string(asked), env.Registry) {
		t.Errorf("the helper was not asked for %s (log %q, %v)", env.Registry, asked, err)
	}
	if strings.Contains(r.stdout+r.stderr, env.Password) {
		t.Error("the password was printed")
	}

	// The login command reports the helper as the source.
	r = runBinary(t, "", runEnv, "login", env.Registry)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\nLogin Succeeded\n") ||
		!strings.Contains(r.stdout, "credential helper docker-credential-idptest") {
		t.Errorf("login with the helper: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// Without the certs.d entry the registry's certificate is unknown, and the error says
	// what to do.
	noTrust := append(append([]string(nil), runEnv...), "IDP_PUSH_CERTS_D="+t.TempDir())
	r = runBinary(t, "", noTrust, "push", env.FixtureLayout(), "--dest", env.Ref("helper-notrust", "v1"))
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--ca-file") {
		t.Errorf("without certs.d: exit %d stderr %q", r.code, r.stderr)
	}
	// Without the helper configured the push is anonymous, which the registry refuses; the
	// error says how to give credentials.
	_, noCreds := isolated(t)
	noCreds = append(noCreds, "IDP_PUSH_CERTS_D="+certsD)
	r = runBinary(t, "", noCreds, "push", env.FixtureLayout(), "--dest", env.Ref("helper-nocreds", "v1"))
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") || !strings.Contains(r.stderr, "idpbuilder login "+env.Registry) {
		t.Errorf("without credentials: exit %d stderr %q", r.code, r.stderr)
	}
}

// (b) login stores the credentials in the docker config (0600); a push then needs no flags.
func TestE2ELoginSavesForPush(t *testing.T) {
	env := testenv.Load(t)
	dockerConfig, base := isolated(t)
	configFile := filepath.Join(dockerConfig, "config.json")

	r := runBinary(t, env.Password+"\n", base, "login", env.Registry, "-u", env.Username, "--password-stdin", "--ca-file", env.CA)
	if r.code != 0 {
		t.Fatalf("login: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	want := "Credentials for " + env.Username + " from --password-stdin; saved to docker config " + configFile + "\nLogin Succeeded\n"
	if r.stdout != want || r.stderr != "" {
		t.Errorf("login: stdout %q (want %q) stderr %q", r.stdout, want, r.stderr)
	}
	st, err := os.Stat(configFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", configFile, st.Mode().Perm())
	}
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", configFile, err)
	}
	wantAuth := base64.StdEncoding.EncodeToString([]byte(env.Username + ":" + env.Password))
	found := false
	for key, entry := range cfg.Auths {
		if strings.Contains(key, env.Registry) && entry.Auth == wantAuth {
			found = true
		}
	}
	if !found {
		t.Errorf("no auths entry for %s with the credentials in %s: %v", env.Registry, configFile, keys(cfg.Auths))
	}

	// A push with no credential flags uses them.
	dest := env.Ref("login-saved", "v1")
	r = runBinary(t, "", base, "push", env.FixtureLayout(), "--dest", dest, "--ca-file", env.CA)
	if r.code != 0 {
		t.Fatalf("push after login: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	m := pinned.FindStringSubmatch(lastLine(r.stdout))
	if m == nil || m[1] != dest {
		t.Fatalf("stdout %q", r.stdout)
	}
	if got, err := env.SkopeoDigest(t, dest); err != nil || got != m[2] {
		t.Fatalf("skopeo: %s, %v; idpbuilder printed %s", got, err, m[2])
	}

	// login without credentials verifies the stored ones and saves nothing.
	r = runBinary(t, "", base, "login", env.Registry, "--ca-file", env.CA)
	want = "Credentials from docker config " + configFile + "; already stored there, nothing saved\nLogin Succeeded\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("login with stored credentials: exit %d stdout %q (want %q) stderr %q", r.code, r.stdout, want, r.stderr)
	}

	// --save=false only verifies.
	fresh, freshEnv := isolated(t)
	r = runBinary(t, env.Password, freshEnv, "login", env.Registry, "-u", env.Username, "--password-stdin", "--ca-file", env.CA, "--save=false")
	if r.code != 0 || !strings.Contains(r.stdout, "not saved (--save=false)") || !strings.HasSuffix(r.stdout, "Login Succeeded\n") {
		t.Errorf("--save=false: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(fresh, "config.json")); !os.IsNotExist(err) {
		t.Errorf("--save=false wrote %s (%v)", filepath.Join(fresh, "config.json"), err)
	}

	// A wrong password: one line, exit 1, nothing stored.
	r = runBinary(t, "wrong-"+env.Password, freshEnv, "login", env.Registry, "-u", env.Username, "--password-stdin", "--ca-file", env.CA)
	if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("wrong password: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(fresh, "config.json")); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote %s (%v)", filepath.Join(fresh, "config.json"), err)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

// (c) No secret appears in any output of failing or succeeding runs, at any log level.
// (d) --password prints docker's warning; --insecure and --plain-http print theirs.
func TestE2ESecretsNeverPrinted(t *testing.T) {
	env := testenv.Load(t)
	wrong := "Wrong-Distinctive-Secret-" + randomHex(8)
	secrets := []string{
		env.Password, wrong,
		base64.StdEncoding.EncodeToString([]byte(env.Username + ":" + env.Password)),
		base64.StdEncoding.EncodeToString([]byte(env.Username + ":" + wrong)),
	}
	helperDir := t.TempDir()
	testenv.CredentialHelper(t, helperDir, "idptest", env.Username, env.Password)
	helperConfig, helperEnv := isolated(t)
	if err := os.WriteFile(filepath.Join(helperConfig, "config.json"),
		[]byte(`{"credHelpers": {"`+env.Registry+`": "idptest"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	helperEnv = append(helperEnv, "PATH="+helperDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	type run struct {
		name    string
		stdin   string
		env     []string // added to a fresh isolated environment
		args    []string
		code    int
		warning string // a line stderr must hold
	}
	push := func(extra ...string) []string {
		return append([]string{"push", env.FixtureLayout(), "--dest", env.Ref("secrets", "v1")}, extra...)
	}
	login := func(extra ...string) []string { return append([]string{"login", env.Registry}, extra...) }
	userEnv := func(pw string) []string {
		return []string{auth.EnvUsername + "=" + env.Username, auth.EnvPassword + "=" + pw}
	}
	const (
		passwordWarning = auth.PasswordOnCommandLineWarning
		insecureWarning = "WARNING: TLS certificate verification is disabled for "
	)
	var runs []run
	for _, level := range []string{"info", "debug"} {
		l := []string{"--log-level", level}
		runs = append(runs,
			// Failing: wrong password from stdin, the flag and the environment.
			run{"push wrong stdin", wrong, nil, append(push("-u", env.Username, "--password-stdin", "--ca-file", env.CA), l...), 1, ""},
			run{"push wrong flag", "", nil, append(push("-u", env.Username, "-p", wrong, "--ca-file", env.CA), l...), 1, passwordWarning},
			run{"push wrong env", "", userEnv(wrong), append(push("--ca-file", env.CA), l...), 1, ""},
			run{"login wrong stdin", wrong, nil, append(login("-u", env.Username, "--password-stdin", "--ca-file", env.CA), l...), 1, ""},
			run{"login wrong flag", "", nil, append(login("-u", env.Username, "-p", wrong, "--ca-file", env.CA), l...), 1, passwordWarning},
			run{"login wrong env", "", userEnv(wrong), append(login("--ca-file", env.CA), l...), 1, ""},
			// Failing for TLS, with the right password.
			run{"push wrong CA", env.Password, nil, append(push("-u", env.Username, "--password-stdin", "--ca-file", env.WrongCA), l...), 1, ""},
			// Succeeding.
			run{"push stdin", env.Password, nil, append(push("-u", env.Username, "--password-stdin", "--ca-file", env.CA), l...), 0, ""},
			run{"push flag", "", nil, append(push("-u", env.Username, "-p", env.Password, "--ca-file", env.CA), l...), 0, passwordWarning},
			run{"push env insecure", "", userEnv(env.Password), append(push("--insecure"), l...), 0, insecureWarning + env.Registry},
			run{"push helper", "", helperEnv, append(push("--ca-file", env.CA), l...), 0, ""},
			run{"login stdin", env.Password, nil, append(login("-u", env.Username, "--password-stdin", "--ca-file", env.CA), l...), 0, ""},
			run{"login flag", "", nil, append(login("-u", env.Username, "-p", env.Password, "--insecure"), l...), 0, passwordWarning},
			run{"login helper", "", helperEnv, append(login("--ca-file", env.CA), l...), 0, ""},
		)
	}
	for _, r := range runs {
		t.Run(strings.Join(strings.Fields(r.name+" "+r.args[len(r.args)-1]), "-"), func(t *testing.T) {
			_, base := isolated(t)
			out := runBinary(t, r.stdin, append(base, r.env...), r.args...)
			if out.code != r.code {
				t.Errorf("exit %d, want %d\nstdout %s\nstderr %s", out.code, r.code, out.stdout, out.stderr)
			}
			for _, s := range secrets {
				if strings.Contains(out.stdout, s) || strings.Contains(out.stderr, s) {
					t.Errorf("a secret appears in the output:\nstdout %s\nstderr %s", out.stdout, out.stderr)
				}
			}
			if r.warning != "" && !strings.Contains(out.stderr, r.warning) {
				t.Errorf("stderr lacks %q: %q", r.warning, out.stderr)
			}
			if r.warning == "" && strings.Contains(out.stderr, "WARNING") {
				t.Errorf("unexpected warning: %q", out.stderr)
			}
			if r.code != 0 && (!strings.HasPrefix(lastLine(out.stderr), "Error: ") || out.stdout != "") {
				t.Errorf("failure output: stdout %q stderr %q", out.stdout, out.stderr)
			}
		})
	}

	// --quiet hides the warnings of a push.
	_, base := isolated(t)
	r := runBinary(t, "", base, push("-u", env.Username, "-p", env.Password, "--insecure", "-q")...)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("--quiet: exit %d stderr %q", r.code, r.stderr)
	}
	// The --password warning is exactly docker's.
	r = runBinary(t, "", base, push("-u", env.Username, "-p", env.Password, "--ca-file", env.CA)...)
	if r.code != 0 || !strings.HasPrefix(r.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n") {
		t.Errorf("--password: exit %d stderr %q", r.code, r.stderr)
	}
}
