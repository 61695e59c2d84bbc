package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/mocks"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/source"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fixture is a push command wired to fakes.
type fixture struct {
	registry *mocks.Registry
	builder  *mocks.Builder
	layout   *mocks.Image // what OpenLayout returns
	opened   []string     // OpenLayout arguments
	archive  *mocks.Image // what OpenArchive returns
	archives []string     // OpenArchive arguments
	env      map[string]string
	deps     Deps
}

func newFixture() *fixture {
	f := &fixture{
		registry: &mocks.Registry{},
		builder:  &mocks.Builder{Image: &mocks.Image{DigestValue: digest, TagValue: "latest", SourceValue: "oci:/tmp/x:latest"}},
		layout:   &mocks.Image{DigestValue: digest, SourceValue: "oci:/layout"},
		archive:  &mocks.Image{DigestValue: digest, SourceValue: "oci-archive:/archive.tar"},
		env:      map[string]string{},
	}
	f.deps = Deps{
		Registry: f.registry,
		Builder:  f.builder,
		OpenLayout: func(s source.Spec) (types.Image, error) {
			f.opened = append(f.opened, s.Input)
			return f.layout, nil
		},
		OpenArchive: func(s source.Spec) (types.Image, error) {
			f.archives = append(f.archives, s.Input)
			return f.archive, nil
		},
		Getenv:     func(k string) string { return f.env[k] },
		IsTerminal: func(io.Writer) bool { return false },
	}
	return f
}

type result struct {
	stdout, stderr string
	err            error
}

func (f *fixture) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return f.runContext(t, context.Background(), stdin, args...)
}

func (f *fixture) runContext(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	cmd := NewPushCmd(f.deps)
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(ctx)
	return result{out.String(), errOut.String(), err}
}

func (f *fixture) onlyPush(t *testing.T) mocks.PushCall {
	t.Helper()
	p := f.registry.Pushes()
	if len(p) != 1 {
		t.Fatalf("%d pushes, want 1", len(p))
	}
	return p[0]
}

func TestDestinationDefaults(t *testing.T) {
	layoutDir := filepath.Join(t.TempDir(), "My-Layout")
	if err := os.Mkdir(layoutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		imageTag string // Tag() of the image the fakes return
		want     string
	}{
		{"oci layout with tag", []string{"oci:/images/web:v2"}, "", "gitea.cnoe.localtest.me:8443/giteaadmin/web:v2"},
		{"oci layout without tag uses the image's tag", []string{"oci:/images/web"}, "v1", "gitea.cnoe.localtest.me:8443/giteaadmin/web:v1"},
		{"oci layout without any tag is latest", []string{"oci:/images/web"}, "", "gitea.cnoe.localtest.me:8443/giteaadmin/web:latest"},
		{"layout directory, name lowercased", []string{layoutDir}, "", "gitea.cnoe.localtest.me:8443/giteaadmin/my-layout:latest"},
		{"buildah image", []string{"localhost/app:1"}, "1", "gitea.cnoe.localtest.me:8443/giteaadmin/app:1"},
		{"buildah image with registry port and no tag", []string{"localhost:5000/team/App"}, "", "gitea.cnoe.localtest.me:8443/giteaadmin/app:latest"},
		{"containers-storage transport", []string{"containers-storage:localhost/app:3"}, "3", "gitea.cnoe.localtest.me:8443/giteaadmin/app:3"},
		{"registry and owner, owner lowercased", []string{"oci:/images/web:v2", "--registry", "reg.example:5000", "--owner", "MyOrg"}, "", "reg.example:5000/myorg/web:v2"},
		{"dest replaces everything", []string{"oci:/images/web:v2", "--dest", "h:1/o/n:t"}, "", "h:1/o/n:t"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			f.layout.TagValue = c.imageTag
			f.builder.Image.TagValue = c.imageTag
			r := f.run(t, "", c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := f.onlyPush(t).Destination; got != c.want {
				t.Errorf("destination %q, want %q", got, c.want)
			}
			if r.stdout != c.want+"@"+digest+"\n" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

func TestImageSources(t *testing.T) {
	t.Run("oci: goes to OpenLayout", func(t *testing.T) {
		f := newFixture()
		if r := f.run(t, "", "oci:/images/web:v2"); r.err != nil {
			t.Fatal(r.err)
		}
		if len(f.opened) != 1 || f.opened[0] != "oci:/images/web:v2" || len(f.builder.Gets()) != 0 {
			t.Fatalf("opened %v, buildah gets %v", f.opened, f.builder.Gets())
		}
		if f.onlyPush(t).Image != f.layout {
			t.Error("pushed another image than the layout")
		}
	})
	t.Run("names go to Buildah and the image is closed", func(t *testing.T) {
		f := newFixture()
		if r := f.run(t, "", "localhost/app:1"); r.err != nil {
			t.Fatal(r.err)
		}
		if g := f.builder.Gets(); len(g) != 1 || g[0] != "localhost/app:1" || len(f.opened) != 0 {
			t.Fatalf("buildah gets %v, opened %v", g, f.opened)
		}
		if n := f.builder.Image.Closed(); n != 1 {
			t.Errorf("image closed %d times, want 1", n)
		}
	})
	t.Run("archives go to OpenArchive", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "img.tar")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, image := range []string{"oci-archive:/tmp/x.tar:v1", "docker-archive:/tmp/x.tar:app:v1", file, file + ":v1"} {
			f := newFixture()
			if r := f.run(t, "", image); r.err != nil {
				t.Fatal(r.err)
			}
			if len(f.archives) != 1 || f.archives[0] != image || len(f.opened) != 0 || len(f.builder.Gets()) != 0 {
				t.Fatalf("%s: archives %v, layouts %v, buildah gets %v", image, f.archives, f.opened, f.builder.Gets())
			}
			if f.onlyPush(t).Image != f.archive {
				t.Errorf("%s: pushed another image than the archive's", image)
			}
		}
	})
	t.Run("other transports are refused", func(t *testing.T) {
		for _, image := range []string{"docker://x/y:1", "docker-daemon:app:1", "dir:/x"} {
			f := newFixture()
			r := f.run(t, "", image)
			if r.err == nil || !strings.Contains(r.err.Error(), "transport is not supported") {
				t.Fatalf("%s: err = %v", image, r.err)
			}
			if len(f.registry.Pushes()) != 0 || len(f.archives)+len(f.opened)+len(f.builder.Gets()) != 0 {
				t.Errorf("%s: opened or pushed anyway", image)
			}
		}
	})
	t.Run("GetImage errors are returned", func(t *testing.T) {
		f := newFixture()
		f.builder.GetImageFunc = func(context.Context, string) (types.Image, error) {
			return nil, errors.New("image not known")
		}
		if r := f.run(t, "", "localhost/nope:1"); r.err == nil || r.err.Error() != "image not known" {
			t.Fatalf("err = %v", r.err)
		}
	})
}

func TestBuild(t *testing.T) {
	f := newFixture()
	r := f.run(t, "", "--build", "--context", "/src", "localhost/app:7", "-q")
	if r.err != nil {
		t.Fatal(r.err)
	}
	b := f.builder.Builds()
	if len(b) != 1 {
		t.Fatalf("%d builds", len(b))
	}
	if b[0].Dockerfile != filepath.Join("/src", "Dockerfile") || b[0].ContextDir != "/src" ||
		b[0].Options.Tag != "localhost/app:7" || !b[0].Options.Quiet {
		t.Errorf("build call %+v", b[0])
	}
	if got := f.onlyPush(t).Destination; got != "gitea.cnoe.localtest.me:8443/giteaadmin/app:7" {
		t.Errorf("destination %q", got)
	}
	if f.builder.Image.Closed() != 1 {
		t.Error("built image not closed")
	}

	f = newFixture()
	if r := f.run(t, "", "--build", "-f", "/src/Containerfile", "localhost/app:7"); r.err != nil {
		t.Fatal(r.err)
	}
	if b := f.builder.Builds(); b[0].Dockerfile != "/src/Containerfile" || b[0].ContextDir != "." || b[0].Options.Quiet {
		t.Errorf("build call %+v", b[0])
	}
}

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"oci:/x", "--dest", "h/o/n", "--owner", "x"}, "--dest"},
		{[]string{"oci:/x", "--dest", "h/o/n", "--registry", "x"}, "--dest"},
		{[]string{"oci:/x", "--file", "Dockerfile"}, "need --build"},
		{[]string{"oci:/x", "--context", "."}, "need --build"},
		{[]string{"oci:/x", "--output", "yaml"}, "--output"},
		{[]string{"oci:/x", "--concurrency", "-1"}, "--concurrency"},
		{[]string{"oci:/x", "--registry", "a/b"}, "--registry"},
		{[]string{"oci:/x", "--owner", "a/b"}, "--owner"},
		{[]string{"oci:/x", "-p", "pw", "--password-stdin"}, "mutually exclusive"},
		{[]string{"oci:/x", "--ca-file", "/does/not/exist"}, "CA file"},
		{[]string{"oci:/x", "--ca-file", "/etc/hostname", "--plain-http"}, "--plain-http"},
		{[]string{"oci:/x", "--no-such-flag"}, "unknown flag"},
		{[]string{}, "accepts 1 arg"},
		{[]string{"a", "b"}, "accepts 1 arg"},
	}
	for _, c := range cases {
		f := newFixture()
		r := f.run(t, "", c.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %q", c.args, r.err, c.want)
		}
		if r.stdout != "" || r.stderr != "" {
			t.Errorf("%v: printed stdout %q stderr %q (usage or error should not be printed by the command)", c.args, r.stdout, r.stderr)
		}
		if len(f.registry.Pushes()) != 0 {
			t.Errorf("%v: pushed anyway", c.args)
		}
	}
}

func TestCredentialPrecedence(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		stdin    string
		env      map[string]string
		want     types.Credentials
		warnings int
	}{
		// No credentials given: none are passed, and the library looks in the docker config,
		// the credential helpers and the containers auth file, else pushes anonymously.
		{"nothing: looked up by the library", nil, "", nil, types.Credentials{}, 0},
		{"env user without password: looked up by the library", nil, "", map[string]string{auth.EnvUsername: "envuser"}, types.Credentials{}, 0},
		{"env password, default user", nil, "", map[string]string{auth.EnvPassword: "envpw"}, types.Credentials{Username: "giteaAdmin", Password: "envpw"}, 0},
		{"env user and password", nil, "", map[string]string{auth.EnvUsername: "envuser", auth.EnvPassword: "envpw"}, types.Credentials{Username: "envuser", Password: "envpw"}, 0},
		{"flags beat env", []string{"-u", "flaguser", "-p", "flagpw"}, "", map[string]string{auth.EnvUsername: "envuser", auth.EnvPassword: "envpw"}, types.Credentials{Username: "flaguser", Password: "flagpw"}, 1},
		{"stdin beats env", []string{"--password-stdin"}, "stdinpw\n", map[string]string{auth.EnvPassword: "envpw"}, types.Credentials{Username: "giteaAdmin", Password: "stdinpw"}, 0},
		{"stdin with CRLF", []string{"--username", "bob", "--password-stdin"}, "stdinpw\r\n", nil, types.Credentials{Username: "bob", Password: "stdinpw"}, 0},
		{"flag user, env password", []string{"-u", "bob"}, "", map[string]string{auth.EnvPassword: "envpw"}, types.Credentials{Username: "bob", Password: "envpw"}, 0},
		{"flag password, default user", []string{"-p", "flagpw"}, "", nil, types.Credentials{Username: "giteaAdmin", Password: "flagpw"}, 1},
		{"--quiet hides the --password warning", []string{"-p", "flagpw", "-q"}, "", nil, types.Credentials{Username: "giteaAdmin", Password: "flagpw"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			for k, v := range c.env {
				f.env[k] = v
			}
			r := f.run(t, c.stdin, append([]string{"oci:/x:1"}, c.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := f.onlyPush(t).Options.Credentials; got != c.want {
				t.Errorf("credentials %v, want %v", got, c.want)
			}
			warnings := strings.Count(r.stderr, auth.PasswordOnCommandLineWarning)
			if warnings != c.warnings {
				t.Errorf("stderr %q: %d warnings, want %d", r.stderr, warnings, c.warnings)
			}
			if c.want.Password != "" && strings.Contains(r.stdout+r.stderr, c.want.Password) {
				t.Errorf("the password was printed: stdout %q stderr %q", r.stdout, r.stderr)
			}
		})
	}
	t.Run("--username without a password is an error", func(t *testing.T) {
		f := newFixture()
		r := f.run(t, "", "oci:/x:1", "-u", "bob")
		if r.err == nil || !strings.Contains(r.err.Error(), "--username needs a password") || len(f.registry.Pushes()) != 0 {
			t.Fatalf("err = %v, pushes %d", r.err, len(f.registry.Pushes()))
		}
	})
	t.Run("empty stdin is an error", func(t *testing.T) {
		f := newFixture()
		if r := f.run(t, "\n", "oci:/x:1", "--password-stdin"); r.err == nil || !strings.Contains(r.err.Error(), "empty") {
			t.Fatalf("err = %v", r.err)
		}
	})
}

func TestTLSFlagsArePassed(t *testing.T) {
	ca := testenv.CAFile(t)
	f := newFixture()
	if r := f.run(t, "", "oci:/x:1", "--ca-file", ca, "--insecure", "--concurrency", "3"); r.err != nil {
		t.Fatal(r.err)
	}
	o := f.onlyPush(t).Options
	if o.TLS.CAFile != ca || !o.TLS.Insecure || o.TLS.PlainHTTP || o.Concurrency != 3 {
		t.Errorf("options %+v", o)
	}
	f = newFixture()
	if r := f.run(t, "", "oci:/x:1", "--plain-http"); r.err != nil {
		t.Fatal(r.err)
	}
	if o := f.onlyPush(t).Options; !o.TLS.PlainHTTP {
		t.Errorf("options %+v", o)
	}
}

func TestTLSWarnings(t *testing.T) {
	cases := []struct {
		args []string
		want string // "" for no warning
	}{
		{[]string{"--insecure"}, "WARNING: TLS certificate verification is disabled for gitea.cnoe.localtest.me:8443"},
		{[]string{"--insecure", "--dest", "reg.example:5000/o/n:1"}, "WARNING: TLS certificate verification is disabled for reg.example:5000"},
		{[]string{"--plain-http", "--registry", "localhost:5000"}, "WARNING: talking to localhost:5000 over plain HTTP"},
		{[]string{"--insecure", "--quiet"}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		f := newFixture()
		r := f.run(t, "", append([]string{"oci:/x:1"}, c.args...)...)
		if r.err != nil {
			t.Fatal(r.err)
		}
		warnings := strings.Count(r.stderr, "WARNING")
		if c.want == "" && warnings != 0 || c.want != "" && (warnings != 1 || !strings.HasPrefix(r.stderr, c.want)) {
			t.Errorf("%v: stderr %q, want the warning %q", c.args, r.stderr, c.want)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	f := newFixture()
	f.registry.PushFunc = func(_ context.Context, img types.Image, dest string, _ types.PushOptions) (types.PushResult, error) {
		return types.PushResult{Reference: dest, Digest: img.Digest(), BytesSent: 12345}, nil
	}
	r := f.run(t, "", "oci:/images/web:v2", "--output", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout %q: want one line", r.stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"reference": "gitea.cnoe.localtest.me:8443/giteaadmin/web:v2", "digest": digest, "bytes": float64(12345)}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestPlainRegistryReportsImageDigest(t *testing.T) {
	f := newFixture()
	f.deps.Registry = mocks.PlainRegistry{R: f.registry}
	r := f.run(t, "", "oci:/images/web:v2")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stdout != "gitea.cnoe.localtest.me:8443/giteaadmin/web:v2@"+digest+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func progressEvents() []types.ProgressEvent {
	a := "sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
	b := "sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"
	c := "sha256:cccccccccccc3333333333333333333333333333333333333333333333333333"
	return []types.ProgressEvent{
		{Kind: types.BlobSkipped, Digest: b, Current: 10, Total: 10},
		{Kind: types.BlobMounted, Digest: c, Current: 5, Total: 5},
		{Kind: types.BlobStarted, Digest: a, Total: 100},
		{Kind: types.BlobProgress, Digest: a, Current: 50, Total: 100},
		{Kind: types.BlobProgress, Digest: a, Current: 100, Total: 100},
		{Kind: types.BlobDone, Digest: a, Current: 100, Total: 100},
		{Kind: types.ManifestPushed, Digest: digest, Current: 300, Total: 300},
	}
}

func TestProgressLinesWhenNotATerminal(t *testing.T) {
	f := newFixture()
	f.registry.PushFunc = func(_ context.Context, img types.Image, dest string, o types.PushOptions) (types.PushResult, error) {
		if o.Progress == nil {
			t.Error("no progress callback")
			return types.PushResult{}, errors.New("no callback")
		}
		for _, ev := range progressEvents() {
			o.Progress(ev)
		}
		return types.PushResult{Reference: dest, Digest: img.Digest()}, nil
	}
	r := f.run(t, "", "oci:/x:1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "bbbbbbbbbbbb: Layer already exists\ncccccccccccc: Mounted from another repository\naaaaaaaaaaaa: Pushed\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if r.stdout != "gitea.cnoe.localtest.me:8443/giteaadmin/x:1@"+digest+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestQuietHasNoProgress(t *testing.T) {
	f := newFixture()
	f.registry.PushFunc = func(_ context.Context, img types.Image, dest string, o types.PushOptions) (types.PushResult, error) {
		if o.Progress != nil {
			t.Error("progress callback with --quiet")
		}
		return types.PushResult{Reference: dest, Digest: img.Digest()}, nil
	}
	r := f.run(t, "", "oci:/x:1", "--quiet")
	if r.err != nil || r.stderr != "" {
		t.Fatalf("err %v, stderr %q", r.err, r.stderr)
	}
}

func TestProgressBarsOnATerminal(t *testing.T) {
	f := newFixture()
	f.deps.IsTerminal = func(io.Writer) bool { return true }
	f.registry.PushFunc = func(_ context.Context, img types.Image, dest string, o types.PushOptions) (types.PushResult, error) {
		for _, ev := range progressEvents() {
			o.Progress(ev)
		}
		// An upload that never finishes must not keep the renderer waiting.
		o.Progress(types.ProgressEvent{Kind: types.BlobStarted, Digest: "sha256:dddddddddddd", Total: 1000})
		return types.PushResult{}, &types.Error{Code: types.StatusNetwork, Message: "connection reset"}
	}
	done := make(chan result)
	go func() { done <- f.run(t, "", "oci:/x:1") }()
	select {
	case r := <-done:
		if !errors.Is(r.err, types.ErrNetwork) {
			t.Fatalf("err = %v", r.err)
		}
		for _, s := range []string{"bbbbbbbbbbbb: Layer already exists", "aaaaaaaaaaaa", "dddddddddddd"} {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("stderr lacks %q: %q", s, r.stderr)
			}
		}
		if r.stdout != "" {
			t.Errorf("stdout %q after an error", r.stdout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command hangs after a failed push with bars")
	}
}

func TestErrorIsOneLineAndPrintedOnce(t *testing.T) {
	const password = "hunter2-very-secret"
	f := newFixture()
	f.registry.PushFunc = func(context.Context, types.Image, string, types.PushOptions) (types.PushResult, error) {
		return types.PushResult{}, &types.Error{Code: types.StatusUnauthorized, Message: "unauthorized: reg as \"giteaAdmin\": refused\nsecond line"}
	}
	root := &cobra.Command{Use: "idpbuilder", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(NewPushCmd(f.deps))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(password + "\n"))
	root.SetArgs([]string{"push", "oci:/x:1", "--password-stdin"})
	code := Execute(context.Background(), root)
	if code != 1 {
		t.Errorf("exit code %d", code)
	}
	want := "Error: unauthorized: reg as \"giteaAdmin\": refused second line\n"
	if errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
	if out.String() != "" || strings.Contains(errOut.String(), password) {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestUnauthorizedWithoutPasswordHints(t *testing.T) {
	f := newFixture()
	f.registry.PushFunc = func(context.Context, types.Image, string, types.PushOptions) (types.PushResult, error) {
		return types.PushResult{}, &types.Error{Code: types.StatusUnauthorized, Message: "unauthorized"}
	}
	r := f.run(t, "", "oci:/x:1")
	if !errors.Is(r.err, types.ErrUnauthorized) || !strings.Contains(r.err.Error(), "--password-stdin") {
		t.Fatalf("err = %v", r.err)
	}
}

func TestImageIsClosedOnErrors(t *testing.T) {
	f := newFixture()
	f.registry.PushFunc = func(context.Context, types.Image, string, types.PushOptions) (types.PushResult, error) {
		return types.PushResult{}, &types.Error{Code: types.StatusRegistry, Message: "boom"}
	}
	if r := f.run(t, "", "localhost/app:1"); r.err == nil {
		t.Fatal("no error")
	}
	if f.builder.Image.Closed() != 1 {
		t.Error("image not closed after a failed push")
	}
}

func TestCancellation(t *testing.T) {
	f := newFixture()
	started := make(chan struct{})
	f.registry.PushFunc = func(ctx context.Context, _ types.Image, _ string, _ types.PushOptions) (types.PushResult, error) {
		close(started)
		<-ctx.Done()
		return types.PushResult{}, &types.Error{Code: types.StatusCancelled, Message: "push cancelled; nothing was tagged", Cause: ctx.Err()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() { done <- f.runContext(t, ctx, "", "localhost/app:1") }()
	<-started
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, types.ErrCancelled) || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("err = %v", r.err)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q", r.stdout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled")
	}
	if f.builder.Image.Closed() != 1 {
		t.Error("image not closed after cancellation")
	}
}

func TestPushCmdIsReady(t *testing.T) {
	if PushCmd.Use != "push [flags] IMAGE" || !PushCmd.SilenceUsage || !PushCmd.SilenceErrors {
		t.Errorf("PushCmd %q usage %v errors %v", PushCmd.Use, PushCmd.SilenceUsage, PushCmd.SilenceErrors)
	}
	for _, name := range []string{"registry", "owner", "dest", "username", "password", "password-stdin",
		"insecure", "ca-file", "plain-http", "build", "file", "context", "quiet", "output", "concurrency",
		"platform", "keep-uncompressed"} {
		if PushCmd.Flags().Lookup(name) == nil {
			t.Errorf("no --%s flag", name)
		}
	}
	for short, long := range map[string]string{"u": "username", "p": "password", "f": "file"} {
		if fl := PushCmd.Flags().ShorthandLookup(short); fl == nil || fl.Name != long {
			t.Errorf("-%s is not --%s", short, long)
		}
	}
}

func TestShortID(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:0123456789abcdef": "0123456789ab",
		"sha256:abc":              "abc",
		"nocolon":                 "nocolon",
	} {
		if got := shortID(in); got != want {
			t.Errorf("shortID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProgressViewCoalescesAndDrains(t *testing.T) {
	var rec recorder
	v := startProgress(&rec)
	a := "sha256:aaaa"
	v.Event(types.ProgressEvent{Kind: types.BlobStarted, Digest: a, Total: 10})
	for i := uint64(1); i <= 10; i++ {
		v.Event(types.ProgressEvent{Kind: types.BlobProgress, Digest: a, Current: i, Total: 10})
	}
	v.Event(types.ProgressEvent{Kind: types.BlobDone, Digest: a, Current: 10, Total: 10})
	v.Stop(true)
	v.Stop(true) // idempotent
	v.Event(types.ProgressEvent{Kind: types.BlobStarted, Digest: "late"})
	if !rec.finished || !rec.success {
		t.Error("renderer not finished")
	}
	last := rec.events[len(rec.events)-1]
	if last.Kind != types.BlobDone || rec.events[0].Kind != types.BlobStarted {
		t.Errorf("events %v", rec.events)
	}
	for _, ev := range rec.events {
		if ev.Digest == "late" {
			t.Error("event after Stop was rendered")
		}
	}
}

type recorder struct {
	events            []types.ProgressEvent
	finished, success bool
}

func (r *recorder) handle(ev types.ProgressEvent) { r.events = append(r.events, ev) }
func (r *recorder) finish(ok bool)                { r.finished, r.success = true, ok }
