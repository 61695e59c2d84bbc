package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests with goleak and in a private environment, so tests neither read
// nor write the user's files: the push library's blob cache (IDP_PUSH_CACHE_DIR), the docker
// config (DOCKER_CONFIG, an empty directory), the containers auth file (REGISTRY_AUTH_FILE,
// with no entries) and the certs.d directories (IDP_PUSH_CERTS_D, an empty
// directory) all point into a temporary directory; SSL_CERT_FILE is unset. Tests that need
// them set these variables with t.Setenv.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "idp-push-test-")
	if err != nil {
		panic(err)
	}
	for name, sub := range map[string]string{
		"IDP_PUSH_CACHE_DIR": "cache", "DOCKER_CONFIG": "docker", "IDP_PUSH_CERTS_D": "certs.d",
	} {
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, 0o700); err != nil {
			panic(err)
		}
		os.Setenv(name, p)
	}
	authFile := filepath.Join(dir, "auth.json") // empty, but present: buildah refuses a missing one
	if err := os.WriteFile(authFile, []byte(`{"auths":{}}`), 0o600); err != nil {
		panic(err)
	}
	os.Setenv("REGISTRY_AUTH_FILE", authFile)
	os.Unsetenv("SSL_CERT_FILE")
	code := m.Run()
	os.RemoveAll(dir)
	atExit.Lock()
	for _, f := range atExit.funcs {
		f()
	}
	atExit.Unlock()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

var atExit struct {
	sync.Mutex
	funcs []func()
}

// AtExit registers f to run after all tests of the package (under Main), for resources shared
// between tests.
func AtExit(f func()) {
	atExit.Lock()
	atExit.funcs = append(atExit.funcs, f)
	atExit.Unlock()
}
