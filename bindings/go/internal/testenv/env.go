//go:build integration

package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Env is the real test environment that `make test` sets up: a distribution registry with
// TLS and htpasswd (tests/support/registry.sh) and fixture layouts (tests/support/fixtures.sh).
type Env struct {
	Registry string // host:port
	CA       string // CA that signed the registry's certificate
	WrongCA  string // a CA that did not
	Username string
	Password string
	Fixtures string // directory with layout/ (tag v1), two-tags/ (tags a, b), big/ and archives/
}

// Load reads the environment, failing the test (not skipping) when it is missing.
func Load(t testing.TB) Env {
	t.Helper()
	e := Env{
		Registry: os.Getenv("IDP_TEST_REGISTRY"),
		CA:       os.Getenv("IDP_TEST_CA"),
		WrongCA:  os.Getenv("IDP_TEST_WRONG_CA"),
		Username: os.Getenv("IDP_TEST_USERNAME"),
		Password: os.Getenv("IDP_TEST_PASSWORD"),
		Fixtures: os.Getenv("IDP_TEST_FIXTURES"),
	}
	if e.Registry == "" || e.CA == "" || e.Username == "" || e.Password == "" || e.Fixtures == "" {
		t.Fatal("IDP_TEST_REGISTRY, IDP_TEST_CA, IDP_TEST_USERNAME, IDP_TEST_PASSWORD or IDP_TEST_FIXTURES " +
			"is not set: run the integration tests through `make test` (it starts a registry with " +
			"tests/support/registry.sh and makes fixtures with tests/support/fixtures.sh)")
	}
	return e
}

// Credentials are the registry's valid credentials.
func (e Env) Credentials() types.Credentials {
	return types.Credentials{Username: e.Username, Password: e.Password}
}

// Ref is a fresh reference on the registry: REGISTRY/itest/NAME-RANDOM:TAG.
func (e Env) Ref(name, tag string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/itest/%s-%s:%s", e.Registry, name, hex.EncodeToString(b), tag)
}

// FixtureLayout is the fixtures' three-layer layout tagged v1.
func (e Env) FixtureLayout() string { return "oci:" + filepath.Join(e.Fixtures, "layout") + ":v1" }

// SkopeoDigest asks skopeo for the raw manifest of ref and returns its sha256 digest.
func (e Env) SkopeoDigest(t testing.TB, ref string) (string, error) {
	t.Helper()
	raw, err := e.SkopeoRaw(t, ref)
	if err != nil {
		return "", err
	}
	return Sha256(raw), nil
}

// Archives is the directory of the archives tests/support/archives.sh made in the fixtures.
func (e Env) Archives() string { return filepath.Join(e.Fixtures, "archives") }

// SkopeoRaw returns `skopeo inspect --raw` of ref: the manifest (or index) as stored.
func (e Env) SkopeoRaw(t testing.TB, ref string) ([]byte, error) {
	t.Helper()
	certDir := t.TempDir()
	ca, err := os.ReadFile(e.CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "skopeo", "inspect", "--raw", "--cert-dir", certDir,
		"--creds", e.Username+":"+e.Password, "docker://"+ref)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("skopeo inspect %s: %v: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Storage is a private Buildah storage (vfs) in a temporary directory, with a base image
// localhost/busybox-base:latest made from the local busybox (nothing can be pulled).
type Storage struct {
	Root, RunRoot string
	// Conf is a containers-storage.conf for it: set CONTAINERS_STORAGE_CONF=Conf for
	// buildah processes that get no --root/--runroot.
	Conf string
}

// BaseImage is the name of the busybox base image in a Storage.
const BaseImage = "localhost/busybox-base:latest"

// NewStorage makes a Storage with the busybox base image. /bin/sh is a symlink to busybox so
// that shell-form RUN lines work.
func NewStorage(t testing.TB) Storage {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox (busybox-static) is needed for the Buildah tests: ", err)
	}
	dir := t.TempDir()
	s := Storage{Root: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run"), Conf: filepath.Join(dir, "storage.conf")}
	conf := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", s.Root, s.RunRoot)
	if err := os.WriteFile(s.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	ctr := strings.TrimSpace(s.Buildah(t, "from", "scratch"))
	s.Buildah(t, "copy", ctr, rootfs+"/", "/")
	s.Buildah(t, "config", "--cmd", "/bin/sh", ctr)
	s.Buildah(t, "commit", "--quiet", ctr, BaseImage)
	s.Buildah(t, "rm", ctr)
	return s
}

// Buildah runs buildah on this storage and returns its stdout; a failure fails the test.
func (s Storage) Buildah(t testing.TB, args ...string) string {
	t.Helper()
	all := append([]string{"--storage-driver", "vfs", "--root", s.Root, "--runroot", s.RunRoot}, args...)
	cmd := exec.Command("buildah", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("buildah %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
