//go:build integration

package push

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// idpbuilder returns the example binary: $IDP_TEST_IDPBUILDER when set (make test builds
// bin/idpbuilder), else it is built once from examples/idpbuilder.
func idpbuilder(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("IDP_TEST_IDPBUILDER"); p != "" {
		return p
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idpbuilder-bin-")
		if err != nil {
			binErr = err
			return
		}
		testenv.AtExit(func() { os.RemoveAll(dir) })
		binPath = filepath.Join(dir, "idpbuilder")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = "../../../../../examples/idpbuilder"
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = errors.New("building examples/idpbuilder: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type binRun struct {
	stdout, stderr string
	code           int
}

func runBinary(t *testing.T, stdin string, env []string, args ...string) binRun {
	t.Helper()
	cmd := exec.Command(idpbuilder(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := binRun{out.String(), errOut.String(), 0}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

var pinned = regexp.MustCompile(`^(.+)@(sha256:[0-9a-f]{64})$`)

func TestE2EPushLayout(t *testing.T) {
	env := testenv.Load(t)
	dest := env.Ref("e2e", "1")
	r := runBinary(t, env.Password+"\n", nil, "push", env.FixtureLayout(), "--dest", dest,
		"-u", env.Username, "--password-stdin", "--ca-file", env.CA)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout %q: want exactly one line", r.stdout)
	}
	m := pinned.FindStringSubmatch(lastLine(r.stdout))
	if m == nil || m[1] != dest {
		t.Fatalf("last stdout line %q, want %s@sha256:...", lastLine(r.stdout), dest)
	}
	got, err := env.SkopeoDigest(t, dest)
	if err != nil {
		t.Fatal(err)
	}
	if got != m[2] {
		t.Errorf("skopeo sees %s, idpbuilder printed %s", got, m[2])
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !regexp.MustCompile(`^[0-9a-f]{12}: (Pushed|Layer already exists|Mounted from another repository)$`).MatchString(line) {
			t.Errorf("unexpected stderr line %q", line)
		}
	}
	if strings.Contains(r.stdout+r.stderr, env.Password) {
		t.Error("the password was printed")
	}

	// JSON output, quiet, credentials from the environment.
	dest = env.Ref("e2e-json", "2")
	r = runBinary(t, "", []string{"IDPBUILDER_REGISTRY_USERNAME=" + env.Username, "IDPBUILDER_REGISTRY_PASSWORD=" + env.Password},
		"push", env.FixtureLayout(), "--dest", dest, "--ca-file", env.CA, "-o", "json", "--quiet")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if !regexp.MustCompile(`^\{"reference":"` + regexp.QuoteMeta(dest) + `","digest":"sha256:[0-9a-f]{64}","bytes":\d+\}\n$`).MatchString(r.stdout) {
		t.Errorf("json stdout %q", r.stdout)
	}
}

func TestE2EWrongPassword(t *testing.T) {
	env := testenv.Load(t)
	wrong := "wrong-" + env.Password
	r := runBinary(t, wrong+"\n", nil, "push", env.FixtureLayout(), "--dest", env.Ref("e2e-wrong", "1"),
		"-u", env.Username, "--password-stdin", "--ca-file", env.CA)
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1", r.code)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("stderr %q: want one line \"Error: ...unauthorized...\"", r.stderr)
	}
	if strings.Contains(r.stderr, wrong) || strings.Contains(r.stderr, env.Password) {
		t.Errorf("stderr %q contains the password", r.stderr)
	}

	// Flag errors: one line, no usage.
	r = runBinary(t, "", nil, "push", env.FixtureLayout(), "--no-such-flag")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "Usage") {
		t.Errorf("flag error: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestE2EBuildAndPush(t *testing.T) {
	env := testenv.Load(t)
	storage := testenv.NewStorage(t)
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte(
		"FROM "+testenv.BaseImage+"\nRUN echo hello from e2e > /hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := env.Ref("e2e-build", "1")
	r := runBinary(t, env.Password, []string{"CONTAINERS_STORAGE_CONF=" + storage.Conf, "TMPDIR=" + t.TempDir()},
		"push", "--build", "-f", filepath.Join(ctxDir, "Containerfile"), "--context", ctxDir,
		"localhost/e2e-app:1", "--dest", dest, "-u", env.Username, "--password-stdin", "--ca-file", env.CA)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	m := pinned.FindStringSubmatch(lastLine(r.stdout))
	if m == nil || m[1] != dest || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout %q", r.stdout)
	}
	if got, err := env.SkopeoDigest(t, dest); err != nil || got != m[2] {
		t.Fatalf("skopeo: %s, %v; printed %s", got, err, m[2])
	}
	if !strings.Contains(r.stderr, "RUN echo hello from e2e") {
		t.Errorf("build output missing from stderr: %q", r.stderr)
	}
	// And the image is now in storage by name.
	r = runBinary(t, env.Password, []string{"CONTAINERS_STORAGE_CONF=" + storage.Conf},
		"push", "localhost/e2e-app:1", "--dest", dest, "-u", env.Username, "--password-stdin", "--ca-file", env.CA, "-q")
	if r.code != 0 || lastLine(r.stdout) != dest+"@"+m[2] {
		t.Fatalf("push by name: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestE2EInterrupt(t *testing.T) {
	env := testenv.Load(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 300<<20)
	dest := env.Ref("e2e-sigint", "1")
	cmd := exec.Command(idpbuilder(t), "push", l.Source(), "--dest", dest, "-u", env.Username,
		"--password-stdin", "--ca-file", env.CA)
	cmd.Stdin = strings.NewReader(env.Password)
	var out bytes.Buffer
	cmd.Stdout = &out
	// The small config blob goes up next to the big layer, so its "Pushed" line means the
	// big upload is under way.
	errText := &watcher{marker: ": Pushed\n", seen: make(chan struct{})}
	cmd.Stderr = errText
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := errText.seen
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Log("no Pushed line after 5s; interrupting anyway")
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("idpbuilder push did not stop after SIGINT")
	}
	if d := time.Since(sent); d > 2*time.Second {
		t.Errorf("stopped %v after SIGINT", d)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v (stdout %q stderr %q)", err, out.String(), errText.String())
	}
	if !strings.Contains(errText.String(), "Error: push cancelled") || out.String() != "" {
		t.Errorf("stdout %q stderr %q", out.String(), errText.String())
	}
	if d, err := env.SkopeoDigest(t, dest); err == nil {
		t.Fatalf("the tag exists after an interrupted push (%s)", d)
	}
}

// watcher records what is written to it and closes seen once marker has been written.
type watcher struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	closed bool
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && strings.Contains(w.buf.String(), w.marker) {
		w.closed = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
