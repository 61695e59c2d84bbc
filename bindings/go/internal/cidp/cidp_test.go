package cidp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestVersionMatchesCargoToml(t *testing.T) {
	cargo, err := os.ReadFile("../../../../Cargo.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version = "([^"]+)"`).FindSubmatch(cargo)
	if m == nil {
		t.Fatal("no version in Cargo.toml")
	}
	if got := Version(); got != string(m[1]) {
		t.Fatalf("Version() = %q, Cargo.toml says %q", got, m[1])
	}
}

func TestGoConstantsMatchHeader(t *testing.T) {
	goValues := map[string]uint32{
		"StatusOK": uint32(types.StatusOK), "StatusNullParameter": uint32(types.StatusNullParameter),
		"StatusInvalidUTF8": uint32(types.StatusInvalidUTF8), "StatusInvalidArgument": uint32(types.StatusInvalidArgument),
		"StatusInvalidReference": uint32(types.StatusInvalidReference), "StatusInvalidSource": uint32(types.StatusInvalidSource),
		"StatusDigestMismatch": uint32(types.StatusDigestMismatch), "StatusUnauthorized": uint32(types.StatusUnauthorized),
		"StatusDenied": uint32(types.StatusDenied), "StatusTLS": uint32(types.StatusTLS),
		"StatusNetwork": uint32(types.StatusNetwork), "StatusRegistry": uint32(types.StatusRegistry),
		"StatusCancelled": uint32(types.StatusCancelled), "StatusIO": uint32(types.StatusIO),
		"StatusPanic": uint32(types.StatusPanic), "StatusInternal": uint32(types.StatusInternal),
		"BlobStarted": uint32(types.BlobStarted), "BlobProgress": uint32(types.BlobProgress),
		"BlobDone": uint32(types.BlobDone), "BlobSkipped": uint32(types.BlobSkipped),
		"ManifestPushed": uint32(types.ManifestPushed), "BlobMounted": uint32(types.BlobMounted),
		"AuthNone": uint32(types.AuthNone), "AuthBasic": uint32(types.AuthBasic), "AuthBearer": uint32(types.AuthBearer),
		"SourceExplicit": uint32(types.SourceExplicit), "SourceDockerConfig": uint32(types.SourceDockerConfig),
		"SourceCredentialHelper": uint32(types.SourceCredentialHelper), "SourceContainersAuthFile": uint32(types.SourceContainersAuthFile),
		"SourceAnonymous": uint32(types.SourceAnonymous),
	}
	c := headerConstants()
	if len(c) != len(goValues) {
		t.Fatalf("%d header constants, %d Go constants", len(c), len(goValues))
	}
	for name, want := range c {
		if got, ok := goValues[name]; !ok || got != want {
			t.Errorf("%s: Go %d, header %d", name, got, want)
		}
	}
}

func TestStatusMessage(t *testing.T) {
	if got := StatusMessage(types.StatusUnauthorized); !strings.Contains(got, "unauthorized") {
		t.Errorf("StatusMessage(Unauthorized) = %q", got)
	}
	if got := StatusMessage(types.Status(9999)); got != "unknown status" {
		t.Errorf("StatusMessage(9999) = %q", got)
	}
}

func TestPushInvalidSource(t *testing.T) {
	_, err := Push(context.Background(), "oci:"+t.TempDir()+"/missing:v1", "127.0.0.1:1/a/b:1", Options{})
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.StatusInvalidSource || !errors.Is(err, types.ErrInvalidSource) {
		t.Fatalf("err = %#v, want InvalidSource", err)
	}
	if e.Message == "" || strings.Contains(e.Message, "\n") {
		t.Errorf("message %q: want one non-empty line", e.Message)
	}
}

func TestPlatformReachesTheLibrary(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100) // a linux/amd64 image
	_, err := Push(context.Background(), l.Source(), "127.0.0.1:1/a/b:1", Options{Platform: "linux"})
	if !errors.Is(err, types.ErrInvalidArgument) || !strings.Contains(err.Error(), "os/arch[/variant]") {
		t.Errorf("malformed platform: %v", err)
	}
	// The source is checked before any connection: the wrong platform fails without a registry.
	_, err = Push(context.Background(), l.Source(), "127.0.0.1:1/a/b:1", Options{Platform: "linux/arm64", KeepUncompressed: true})
	if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
}

func TestPushInvalidDestination(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100)
	_, err := Push(context.Background(), l.Source(), "not a reference", Options{})
	if !errors.Is(err, types.ErrInvalidReference) && !errors.Is(err, types.ErrInvalidArgument) {
		t.Fatalf("err = %v, want InvalidReference", err)
	}
}

func TestPushCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Push(ctx, "oci:/x:1", "127.0.0.1:1/a/b:1", Options{})
	if !errors.Is(err, types.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Cancelled wrapping context.Canceled", err)
	}
}

// events collects progress events; the callback may run on library threads.
type events struct {
	mu  sync.Mutex
	all []types.ProgressEvent
}

func (e *events) add(ev types.ProgressEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []types.ProgressEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]types.ProgressEvent(nil), e.all...)
}

func TestPushToFakeRegistryReportsProgress(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 3<<20, 1000, 0)
	var ev events
	res, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/app:1",
		Options{CAFile: reg.CAFile, Progress: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != l.Digest {
		t.Errorf("digest %s, layout has %s", res.Digest, l.Digest)
	}
	if m, ok := reg.Manifest("giteaadmin/app", "1"); !ok || testenv.Sha256(m) != l.Digest {
		t.Errorf("registry does not hold the manifest under the tag")
	}
	var done, started uint64
	var doneBytes uint64
	manifests := 0
	for _, e := range ev.list() {
		switch e.Kind {
		case types.BlobStarted:
			started++
		case types.BlobDone:
			done++
			doneBytes += e.Total
			if want := uint64(l.Blobs[e.Digest]); e.Total != want {
				t.Errorf("BlobDone %s total %d, blob is %d bytes", e.Digest, e.Total, want)
			}
		case types.ManifestPushed:
			manifests++
		}
	}
	if done != res.BlobsUploaded || started != done || int(done) != len(l.Blobs) {
		t.Errorf("started %d, done %d, uploaded %d, blobs %d", started, done, res.BlobsUploaded, len(l.Blobs))
	}
	if doneBytes != res.BytesSent || doneBytes != uint64(l.BlobBytes) {
		t.Errorf("BlobDone totals %d, bytes sent %d, blob bytes %d", doneBytes, res.BytesSent, l.BlobBytes)
	}
	if manifests != 1 {
		t.Errorf("%d ManifestPushed events, want 1", manifests)
	}

	// Again: every blob is present now.
	var again events
	res, err = Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/app:2",
		Options{CAFile: reg.CAFile, Progress: again.add})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsUploaded != 0 || res.BytesSent != 0 || res.BlobsPresent+res.BlobsMounted != uint64(len(l.Blobs)) {
		t.Errorf("second push: %+v", res)
	}
}

func TestPushWrongPassword(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	reg.SetAuth("giteaAdmin", "right-password")
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 10)
	const wrong = "s3cret-wrong-Passw0rd"
	_, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/app:1",
		Options{CAFile: reg.CAFile, Username: "giteaAdmin", Password: wrong})
	if !errors.Is(err, types.ErrUnauthorized) {
		t.Fatalf("err = %v, want Unauthorized", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error %q contains the password", err)
	}
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/app:1",
		Options{CAFile: reg.CAFile, Username: "giteaAdmin", Password: "right-password"}); err != nil {
		t.Fatalf("right password: %v", err)
	}
}

func TestPushPlainHTTP(t *testing.T) {
	reg := testenv.NewPlainFakeRegistry(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 1000)
	res, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/plain:1", Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != l.Digest {
		t.Fatalf("digest %s, want %s", res.Digest, l.Digest)
	}
}

func TestLogin(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	r, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile})
	if err != nil || r.Scheme != types.AuthNone || r.Source != types.SourceAnonymous || r.SavedTo != "" {
		t.Fatalf("anonymous login: %+v, %v", r, err)
	}
	reg.SetAuth("u", "p")
	r, err = Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, Username: "u", Password: "p"})
	if err != nil || r.Scheme != types.AuthBasic || r.Source != types.SourceExplicit || r.SourceDescription == "" || r.SavedTo != "" {
		t.Fatalf("basic login: %+v, %v", r, err)
	}
	if _, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, Username: "u", Password: "bad"}); !errors.Is(err, types.ErrUnauthorized) {
		t.Fatalf("bad password: %v", err)
	}
	// Nothing given and nothing stored (testenv.Main points DOCKER_CONFIG at an empty
	// directory): anonymous, which this registry refuses.
	if _, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile}); !errors.Is(err, types.ErrUnauthorized) {
		t.Fatalf("no credentials: %v", err)
	}
}

func TestLoginFindsDockerConfigAndSaves(t *testing.T) {
	const secret = "dockercfg-Secret-71"
	reg := testenv.NewFakeRegistry(t)
	reg.SetAuth("cfguser", secret)
	dir := t.TempDir()
	cfg := testenv.DockerConfig(t, dir, map[string][2]string{reg.Host(): {"cfguser", secret}})

	r, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != types.SourceDockerConfig || !strings.Contains(r.SourceDescription, cfg) || r.Scheme != types.AuthBasic {
		t.Errorf("result %+v, want the docker config %s", r, cfg)
	}
	if strings.Contains(r.SourceDescription+r.SavedTo, secret) {
		t.Errorf("result %+v shows the secret", r)
	}
	// A push with no credentials uses the same entry.
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100)
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/cfg:1", Options{CAFile: reg.CAFile}); err != nil {
		t.Fatalf("push with the docker config's credentials: %v", err)
	}

	// Saving explicit credentials into a fresh docker config.
	fresh := t.TempDir()
	t.Setenv("DOCKER_CONFIG", fresh)
	r, err = Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, Username: "cfguser", Password: secret, SaveCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(fresh, "config.json")
	if r.Source != types.SourceExplicit || !strings.Contains(r.SavedTo, saved) {
		t.Errorf("result %+v, want saved to %s", r, saved)
	}
	st, err := os.Stat(saved)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", saved, st.Mode().Perm())
	}
	r, err = Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile})
	if err != nil || r.Source != types.SourceDockerConfig {
		t.Fatalf("login with the saved credentials: %+v, %v", r, err)
	}
	// Without credentials there is nothing to save.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg.SetAuth("", "")
	if _, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, SaveCredentials: true}); !errors.Is(err, types.ErrInvalidArgument) {
		t.Errorf("saving nothing: %v", err)
	}
}

func TestIdentityToken(t *testing.T) {
	const refresh = "refresh-Token-Secret-93"
	reg := testenv.NewFakeRegistry(t)
	reg.SetTokenAuth("u", "p", refresh)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 1000)
	r, err := Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, IdentityToken: refresh})
	if err != nil || r.Scheme != types.AuthBearer || r.Source != types.SourceExplicit {
		t.Fatalf("login with an identity token: %+v, %v", r, err)
	}
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/tok:1", Options{CAFile: reg.CAFile, IdentityToken: refresh}); err != nil {
		t.Fatalf("push with an identity token: %v", err)
	}
	_, err = Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, IdentityToken: "wrong-" + refresh})
	if !errors.Is(err, types.ErrUnauthorized) || strings.Contains(err.Error(), refresh) {
		t.Fatalf("wrong identity token: %v", err)
	}
	_, err = Login(context.Background(), reg.Host(), Options{CAFile: reg.CAFile, Username: "u", Password: "p", IdentityToken: refresh})
	if !errors.Is(err, types.ErrInvalidArgument) || strings.Contains(err.Error(), refresh) {
		t.Fatalf("password and identity token together: %v", err)
	}
}

func TestTrustFromCertsD(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100)
	// testenv.Main gives an empty certs.d: the test CA is unknown.
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/certs:1", Options{}); !errors.Is(err, types.ErrTLS) {
		t.Fatalf("without certs.d: %v, want a TLS error", err)
	}
	t.Setenv("IDP_PUSH_CERTS_D", t.TempDir()+string(os.PathListSeparator)+testenv.CertsD(t, reg.Host(), reg.CAFile))
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/certs:1", Options{}); err != nil {
		t.Fatalf("with the CA in certs.d: %v", err)
	}
}

// The library writes to sockets with writev on its own threads; a registry that closes the
// connection mid-upload makes such a write fail with EPIPE, which raises SIGPIPE unless the
// thread blocks it, and a SIGPIPE on a non-Go thread kills a Go program. The binding no longer
// ignores SIGPIPE for the process, so this test dies with "signal: broken pipe" if the
// library stops blocking it. (The fake's Reset sends FIN then RST mid-body, which gives EPIPE
// on some of the upload attempts; the thread-mask check below does not depend on that race.)
func TestRegistryResettingConnectionsDoesNotKillTheProcess(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	reg.Reset.Store(true)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 4<<20, 4<<20, 4<<20, 4<<20)
	_, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/reset:1", Options{CAFile: reg.CAFile, Concurrency: 4})
	if err == nil {
		t.Fatal("push succeeded although the registry drops every upload")
	}
	if reg.UploadsStarted.Load() == 0 {
		t.Fatalf("no upload reached the registry: %v", err)
	}
	if signal.Ignored(syscall.SIGPIPE) {
		t.Error("SIGPIPE is ignored process-wide; the binding must not change signal dispositions")
	}
	// Every library runtime thread blocks SIGPIPE.
	tasks, err := filepath.Glob("/proc/self/task/*")
	if err != nil || len(tasks) == 0 {
		t.Skipf("no /proc/self/task: %v", err)
	}
	libraryThreads := 0
	for _, task := range tasks {
		comm, err := os.ReadFile(filepath.Join(task, "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "idp-push") {
			continue
		}
		status, err := os.ReadFile(filepath.Join(task, "status"))
		if err != nil {
			continue // the thread ended
		}
		m := regexp.MustCompile(`(?m)^SigBlk:\s*([0-9a-f]+)$`).FindSubmatch(status)
		if m == nil {
			t.Fatalf("no SigBlk in %s/status", task)
		}
		mask, err := strconv.ParseUint(string(m[1]), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		libraryThreads++
		if mask&(1<<(uint(syscall.SIGPIPE)-1)) == 0 {
			t.Errorf("library thread %s (%s) does not block SIGPIPE (SigBlk %s)", filepath.Base(task), strings.TrimSpace(string(comm)), m[1])
		}
	}
	if libraryThreads == 0 {
		t.Error("no library thread (named idp-push) found")
	}
}

func TestCancelMidUpload(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	reg.Stall.Store(true)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 32<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	var once sync.Once
	_, err := Push(ctx, l.Source(), reg.Host()+"/giteaadmin/big:1", Options{
		CAFile: reg.CAFile,
		Progress: func(ev types.ProgressEvent) {
			if ev.Kind == types.BlobProgress && ev.Current > 0 {
				once.Do(func() { cancelledAt = time.Now(); cancel() })
			}
		},
	})
	reg.Stall.Store(false) // let the fake drain what the client sent before it went away
	if cancelledAt.IsZero() {
		t.Fatalf("no progress before the push ended: %v", err)
	}
	if d := time.Since(cancelledAt); d > 2*time.Second {
		t.Errorf("push returned %v after cancel", d)
	}
	if !errors.Is(err, types.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Cancelled", err)
	}
	if _, ok := reg.Manifest("giteaadmin/big", "1"); ok {
		t.Fatal("the tag exists after a cancelled push")
	}
}

func TestProgressPanicIsReraisedAfterTheCall(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 1<<20)
	type boom struct{ n int }
	calls := 0
	func() {
		defer func() {
			r := recover()
			if b, ok := r.(boom); !ok || b.n != 42 {
				t.Errorf("recovered %v, want boom{42}", r)
			}
		}()
		_, _ = Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/panic:1", Options{
			CAFile: reg.CAFile,
			Progress: func(types.ProgressEvent) {
				calls++
				panic(boom{42})
			},
		})
		t.Error("Push returned instead of re-panicking")
	}()
	if calls != 1 {
		t.Errorf("callback called %d times after panicking, want 1", calls)
	}
	if _, ok := reg.Manifest("giteaadmin/panic", "1"); ok {
		t.Error("the push went on after the callback panicked")
	}
	// The library is still usable.
	if _, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/panic:2", Options{CAFile: reg.CAFile}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPushes(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		l := testenv.WriteLayout(t, t.TempDir(), "v1", 256<<10, 1000)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var ev events
			res, err := Push(context.Background(), l.Source(), reg.Host()+"/giteaadmin/c"+string(rune('a'+i))+":1",
				Options{CAFile: reg.CAFile, Concurrency: 2, Progress: ev.add})
			if err != nil {
				t.Error(err)
				return
			}
			if res.Digest != l.Digest || len(ev.list()) == 0 {
				t.Errorf("push %d: %+v, %d events", i, res, len(ev.list()))
			}
		}(i)
	}
	wg.Wait()
}

func TestOptionsHideSecrets(t *testing.T) {
	o := Options{Username: "u", Password: "Secret-pw-1", IdentityToken: "Secret-tok-2", CAFile: "ca.crt"}
	for _, shown := range []string{fmt.Sprint(o), fmt.Sprintf("%v %+v %#v %s", o, o, o, o)} {
		if strings.Contains(shown, "Secret-") || !strings.Contains(shown, "ca.crt") {
			t.Errorf("shown as %s", shown)
		}
	}
}

func TestTimeoutReachesTheLibrary(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	start := time.Now()
	_, err = Login(context.Background(), ln.Addr().String(), Options{PlainHTTP: true, Timeout: 300 * time.Millisecond})
	if !errors.Is(err, types.ErrNetwork) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a network timeout", err)
	}
	// The library's default is 120 s; retries of a timed-out request stay well under that.
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %v with a 300ms timeout", took)
	}

	for d, want := range map[time.Duration]uint32{0: 0, time.Nanosecond: 1, 1500 * time.Microsecond: 2, time.Minute: 60000} {
		if got, err := milliseconds(d); err != nil || got != want {
			t.Errorf("milliseconds(%v) = %d, %v; want %d", d, got, err, want)
		}
	}
	for _, bad := range []time.Duration{-time.Second, 50 * 24 * time.Hour} {
		if _, err := Login(context.Background(), ln.Addr().String(), Options{Timeout: bad}); !errors.Is(err, types.ErrInvalidArgument) {
			t.Errorf("timeout %v: %v", bad, err)
		}
	}
}
