package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/mocks"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPushImageToFakeRegistry(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100000, 10)
	img, err := OpenImage(l.Source())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var doneBytes uint64
	dest := reg.Host() + "/giteaadmin/app:1"
	res, err := (&Client{}).PushImage(context.Background(), img, dest, types.PushOptions{
		TLS: idptls.Options{CAFile: reg.CAFile},
		Progress: func(ev types.ProgressEvent) {
			if ev.Kind == types.BlobDone {
				mu.Lock()
				doneBytes += ev.Total
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reference != dest || res.Digest != img.Digest() || res.Pinned() != dest+"@"+l.Digest {
		t.Errorf("result %+v", res)
	}
	if res.BytesSent != uint64(l.BlobBytes) || doneBytes != res.BytesSent || res.BlobsUploaded != 3 {
		t.Errorf("bytes sent %d, BlobDone totals %d, blob bytes %d, uploaded %d", res.BytesSent, doneBytes, l.BlobBytes, res.BlobsUploaded)
	}
	if err := (&Client{}).Push(context.Background(), img, reg.Host()+"/giteaadmin/app:2",
		types.PushOptions{TLS: idptls.Options{CAFile: reg.CAFile}}); err != nil {
		t.Fatal(err)
	}
}

func TestPushRejectsImagesWithoutSource(t *testing.T) {
	type remoteOnly struct{ types.Image }
	err := (&Client{}).Push(context.Background(), remoteOnly{&mocks.Image{DigestValue: "sha256:x"}}, "h/o/n:1", types.PushOptions{})
	if !errors.Is(err, types.ErrInvalidSource) {
		t.Fatalf("err = %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	img := &mocks.Image{SourceValue: "oci:/nowhere"}
	if err := (&Client{}).Push(context.Background(), img, "h/o/n:1", types.PushOptions{Concurrency: -1}); !errors.Is(err, types.ErrInvalidArgument) {
		t.Errorf("concurrency -1: %v", err)
	}
	// The library itself reports an unusable CA file (the client passes it on unread).
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 10)
	local := &mocks.Image{SourceValue: l.Source(), DigestValue: l.Digest}
	err := (&Client{}).Push(context.Background(), local, "localhost:1/o/n:1", types.PushOptions{TLS: idptls.Options{CAFile: "/no/such/ca.pem"}})
	if !errors.Is(err, types.ErrInvalidArgument) || !strings.Contains(err.Error(), "CA file /no/such/ca.pem") {
		t.Errorf("missing CA: %v", err)
	}
	err = (&Client{}).Push(context.Background(), local, "localhost:1/o/n:1", types.PushOptions{TLS: idptls.Options{CAFile: "ca.pem", PlainHTTP: true}})
	if !errors.Is(err, types.ErrInvalidArgument) || !strings.Contains(err.Error(), "--plain-http") {
		t.Errorf("CA file with plain HTTP: %v", err)
	}
}

func TestLogin(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	reg.SetAuth("giteaAdmin", "pw")
	c := New(idptls.Options{CAFile: reg.CAFile})
	if s, err := c.LoginScheme(context.Background(), reg.Host(), types.Credentials{Username: "giteaAdmin", Password: "pw"}); err != nil || s != AuthBasic {
		t.Fatalf("login: %v %v", s, err)
	}
	if err := c.Login(context.Background(), reg.Host(), types.Credentials{Username: "giteaAdmin", Password: "nope"}); !errors.Is(err, types.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	if Version() == "" {
		t.Error("no version")
	}
}

func TestLoginWithResult(t *testing.T) {
	const secret = "registry-Test-Secret-5"
	reg := testenv.NewFakeRegistry(t)
	reg.SetAuth("giteaAdmin", secret)
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	c := &Client{} // LoginWithResult takes TLS from its options, not from the client
	opts := types.LoginOptions{TLS: idptls.Options{CAFile: reg.CAFile}, Save: true}
	r, err := c.LoginWithResult(context.Background(), reg.Host(), types.Credentials{Username: "giteaAdmin", Password: secret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != AuthBasic || r.Source != types.SourceExplicit || !strings.Contains(r.SavedTo, filepath.Join(cfgDir, "config.json")) {
		t.Errorf("result %+v", r)
	}
	// Now found in the docker config: Login with zero credentials works, and so does a push.
	r, err = c.LoginWithResult(context.Background(), reg.Host(), types.Credentials{}, types.LoginOptions{TLS: opts.TLS})
	if err != nil || r.Source != types.SourceDockerConfig || r.SavedTo != "" {
		t.Fatalf("stored credentials: %+v, %v", r, err)
	}
	if err := New(opts.TLS).Login(context.Background(), reg.Host(), types.Credentials{}); err != nil {
		t.Fatalf("Login with stored credentials: %v", err)
	}
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100)
	img, err := OpenImage(l.Source())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Push(context.Background(), img, reg.Host()+"/giteaadmin/stored:1", types.PushOptions{TLS: opts.TLS}); err != nil {
		t.Fatalf("push with stored credentials: %v", err)
	}
	// Saving needs credentials.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := c.LoginWithResult(context.Background(), reg.Host(), types.Credentials{}, opts); err == nil {
		t.Fatal("saving with no credentials succeeded")
	}
}

func TestPushArchivesToFakeRegistry(t *testing.T) {
	reg := testenv.NewFakeRegistry(t)
	tlsOptions := idptls.Options{CAFile: reg.CAFile}
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100000, 10)
	oci := filepath.Join(dir, "oci.tar")
	testenv.WriteOCIArchive(t, oci, l)
	docker := filepath.Join(dir, "docker.tar")
	testenv.WriteDockerArchive(t, docker, testenv.DockerEntry{Image: testenv.ReadDockerImage(t, l), RepoTags: []string{"app:v1"}})

	for i, c := range []struct {
		source string
		opts   types.PushOptions
		// digest is the image's digest before the push ("" when the push makes the manifest).
		digest string
	}{
		{"oci-archive:" + oci + ":v1", types.PushOptions{}, l.Digest},
		{oci, types.PushOptions{Platform: "linux/amd64"}, l.Digest},
		{"docker-archive:" + docker, types.PushOptions{}, ""},
		{docker + ":app:v1", types.PushOptions{KeepUncompressed: true}, ""},
	} {
		img, err := OpenImage(c.source)
		if err != nil {
			t.Fatalf("%s: %v", c.source, err)
		}
		if img.Digest() != c.digest {
			t.Errorf("%s: image digest %q, want %q", c.source, img.Digest(), c.digest)
		}
		c.opts.TLS = tlsOptions
		dest := fmt.Sprintf("%s/giteaadmin/archive:%d", reg.Host(), i)
		res, err := (&Client{}).PushImage(context.Background(), img, dest, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.source, err)
		}
		stored, ok := reg.Manifest("giteaadmin/archive", fmt.Sprint(i))
		if !ok || testenv.Sha256(stored) != res.Digest {
			t.Errorf("%s: result digest %s, registry holds %v", c.source, res.Digest, ok)
		}
		if c.digest != "" && res.Digest != c.digest {
			t.Errorf("%s: pushed %s, want the archive's manifest %s", c.source, res.Digest, c.digest)
		}
		if c.digest == "" && !strings.Contains(string(stored), "application/vnd.docker.distribution.manifest.v2+json") {
			t.Errorf("%s: manifest %s", c.source, stored)
		}
		if c.opts.KeepUncompressed && strings.Contains(string(stored), "tar.gzip") {
			t.Errorf("%s: layers compressed despite KeepUncompressed: %s", c.source, stored)
		}
		if !c.opts.KeepUncompressed && c.digest == "" && !strings.Contains(string(stored), "tar.gzip") {
			t.Errorf("%s: layers not compressed: %s", c.source, stored)
		}
	}

	// The platform reaches the library: the layout's image is linux/amd64.
	img, err := OpenImage("oci-archive:" + oci)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Client{}).PushImage(context.Background(), img, reg.Host()+"/giteaadmin/archive:arm", types.PushOptions{TLS: tlsOptions, Platform: "linux/arm64"})
	if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
	if _, ok := reg.Manifest("giteaadmin/archive", "arm"); ok {
		t.Error("tagged despite the wrong platform")
	}
}

// TestTimeoutReachesTheLibrary: the options' Timeout gets to the library for push and login,
// so a registry that accepts connections and never answers fails them as timeouts.
func TestTimeoutReachesTheLibrary(t *testing.T) {
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
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	host := ln.Addr().String()
	c := &Client{TLS: idptls.Options{PlainHTTP: true}}
	timeout := 300 * time.Millisecond
	_, err = c.LoginWithResult(context.Background(), host, types.Credentials{}, types.LoginOptions{TLS: c.TLS, Timeout: timeout})
	if !errors.Is(err, types.ErrNetwork) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("login: %v, want a timeout", err)
	}
	img, err := OpenImage(testenv.WriteLayout(t, t.TempDir(), "v1", 10).Source())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PushImage(context.Background(), img, host+"/a/b:1", types.PushOptions{TLS: c.TLS, Timeout: timeout})
	if !errors.Is(err, types.ErrNetwork) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("push: %v, want a timeout", err)
	}
}
