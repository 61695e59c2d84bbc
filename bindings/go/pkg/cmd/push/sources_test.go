package push

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/mocks"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

const gitea = "gitea.cnoe.localtest.me:8443/giteaadmin/"

// TestArchiveDestinationDefaults checks the name and tag derivation of each archive form with
// a fake archive image (its Tag and RepoTag as the library reports them: for a docker archive
// the RepoTag is the NAME[:TAG] asked for, else the archive's only RepoTag).
func TestArchiveDestinationDefaults(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "Bare-Image.tar")
	if err := os.WriteFile(bare, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		image    string
		tag      string // the image's Tag()
		repoTag  string // the image's RepoTag()
		wantDest string
	}{
		{"oci-archive with TAG", "oci-archive:/images/App.tar:v2", "v2", "", "app:v2"},
		{"oci-archive TAG wins over the image's", "oci-archive:/images/app.tar:v2", "other", "", "app:v2"},
		{"oci-archive, the archive's ref name", "oci-archive:/images/app.tar", "v1", "", "app:v1"},
		{"oci-archive, full reference as ref name", "oci-archive:/images/app.tar", "docker.io/library/app:v7", "", "app:v7"},
		{"oci-archive without any tag", "oci-archive:/images/app.tar", "", "", "app:latest"},
		{"oci-archive without .tar", "oci-archive:/images/app-image", "", "", "app-image:latest"},
		{"docker-archive NAME:TAG", "docker-archive:/x/saved.tar:team/Web:v3", "v3", "team/web:v3", "web:v3"},
		{"docker-archive NAME with a port, no TAG", "docker-archive:/x/saved.tar:localhost:5000/team/web", "latest", "localhost:5000/team/web:latest", "web:latest"},
		{"docker-archive NAME wins over the RepoTag", "docker-archive:/x/saved.tar:app:v1", "", "other:v9", "app:v1"},
		{"docker-archive, the single RepoTag", "docker-archive:/x/saved.tar", "v1", "app:v1", "app:v1"},
		{"docker-archive, RepoTag with registry", "docker-archive:/x/saved.tar", "2", "quay.io/team/tool:2", "tool:2"},
		{"docker-archive without a RepoTag", "docker-archive:/x/Saved.tar", "", "", "saved:latest"},
		{"tar file, docker archive inside", bare, "v1", "app:v1", "app:v1"},
		{"tar file with NAME:TAG, docker archive inside", bare + ":team/app:v4", "v4", "team/app:v4", "app:v4"},
		{"tar file, OCI archive inside", bare, "v5", "", "bare-image:v5"},
		{"tar file with TAG, OCI archive inside", bare + ":v6", "v6", "", "bare-image:v6"},
		{"tar file, nothing", bare, "", "", "bare-image:latest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			f.archive.TagValue, f.archive.RepoTagValue = c.tag, c.repoTag
			r := f.run(t, "", c.image)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := f.onlyPush(t).Destination; got != gitea+c.wantDest {
				t.Errorf("destination %q, want %q", got, gitea+c.wantDest)
			}
		})
	}
}

// TestArchivesWithDefaultOpeners opens real archives (made here) with the default
// openers and checks the destination, the source string given to the library and the output.
func TestArchivesWithDefaultOpeners(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	img := testenv.ReadDockerImage(t, l)
	oci := filepath.Join(dir, "My-App.tar")
	testenv.WriteOCIArchive(t, oci, l)
	classic := filepath.Join(dir, "saved.tar")
	testenv.WriteDockerArchive(t, classic, testenv.DockerEntry{Image: img, RepoTags: []string{"docker.io/library/web:v2"}})
	untagged := filepath.Join(dir, "Untagged.tar")
	testenv.WriteDockerArchive(t, untagged, testenv.DockerEntry{Image: img})
	two := filepath.Join(dir, "two.tar")
	testenv.WriteDockerArchive(t, two,
		testenv.DockerEntry{Image: img, RepoTags: []string{"a:1"}},
		testenv.DockerEntry{Image: testenv.ReadDockerImage(t, testenv.WriteLayout(t, filepath.Join(dir, "l2"), "x", 5)), RepoTags: []string{"team/b:2"}})
	docker25 := filepath.Join(dir, "docker25.tar")
	testenv.WriteDockerOCIArchive(t, docker25, l, "new:v9")

	cases := []struct {
		image, dest, source, digest string
	}{
		{"oci-archive:" + oci, "my-app:v1", "oci-archive:" + oci, l.Digest},
		{"oci-archive:" + oci + ":v1", "my-app:v1", "oci-archive:" + oci + ":v1", l.Digest},
		{oci, "my-app:v1", "oci-archive:" + oci, l.Digest},
		{"docker-archive:" + classic, "web:v2", "docker-archive:" + classic, ""},
		{"docker-archive:" + classic + ":web:v2", "web:v2", "docker-archive:" + classic + ":web:v2", ""},
		{classic, "web:v2", "docker-archive:" + classic, ""},
		{"docker-archive:" + untagged, "untagged:latest", "docker-archive:" + untagged, ""},
		{"docker-archive:" + two + ":team/b:2", "b:2", "docker-archive:" + two + ":team/b:2", ""},
		{two + ":a:1", "a:1", "docker-archive:" + two + ":a:1", ""},
		{"docker-archive:" + docker25, "new:v9", "docker-archive:" + docker25, l.Digest},
	}
	pushed := "sha256:" + strings.Repeat("5", 64)
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			f := newFixture()
			f.deps.OpenLayout, f.deps.OpenArchive = nil, nil // the defaults
			f.registry.PushFunc = func(_ context.Context, img types.Image, dest string, _ types.PushOptions) (types.PushResult, error) {
				return types.PushResult{Reference: dest, Digest: pushed}, nil
			}
			r := f.run(t, "", c.image, "-q")
			if r.err != nil {
				t.Fatal(r.err)
			}
			p := f.onlyPush(t)
			if p.Destination != gitea+c.dest {
				t.Errorf("destination %q, want %q", p.Destination, gitea+c.dest)
			}
			local, ok := p.Image.(types.LocalImage)
			if !ok || local.Source() != c.source {
				t.Errorf("source %q, want %q", local.Source(), c.source)
			}
			if p.Image.Digest() != c.digest {
				t.Errorf("image digest %q, want %q", p.Image.Digest(), c.digest)
			}
			// The digest printed is the push's, also when the image's was unknown.
			if r.stdout != gitea+c.dest+"@"+pushed+"\n" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}

	t.Run("an archive with two images needs a name", func(t *testing.T) {
		f := newFixture()
		f.deps.OpenArchive = nil
		r := f.run(t, "", "docker-archive:"+two)
		if r.err == nil || !strings.Contains(r.err.Error(), "holds 2 images; choose one with docker-archive:"+two+":NAME:TAG (images: a:1, team/b:2)") {
			t.Fatalf("err = %v", r.err)
		}
		if len(f.registry.Pushes()) != 0 {
			t.Error("pushed anyway")
		}
	})
	t.Run("compressed archives are refused", func(t *testing.T) {
		gz := filepath.Join(dir, "img.tar.gz")
		if err := os.WriteFile(gz, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, image := range []string{gz, "oci-archive:" + gz, "docker-archive:" + gz} {
			f := newFixture()
			f.deps.OpenArchive = nil
			r := f.run(t, "", image)
			if r.err == nil || !strings.Contains(r.err.Error(), "is gzip-compressed; decompress it first") {
				t.Errorf("%s: err = %v", image, r.err)
			}
			if len(f.registry.Pushes()) != 0 {
				t.Errorf("%s: pushed anyway", image)
			}
		}
	})
}

func TestPlatformAndKeepUncompressedFlags(t *testing.T) {
	for _, c := range []struct {
		args     []string
		platform string
		keep     bool
	}{
		{nil, "", false},
		{[]string{"--platform", "linux/arm64"}, "linux/arm64", false},
		{[]string{"--platform", "linux/arm/v7", "--keep-uncompressed"}, "linux/arm/v7", true},
		{[]string{"--keep-uncompressed"}, "", true},
		{[]string{"--platform=Linux/AMD64"}, "Linux/AMD64", false},
	} {
		f := newFixture()
		r := f.run(t, "", append([]string{"docker-archive:/x/app.tar"}, c.args...)...)
		if r.err != nil {
			t.Fatalf("%v: %v", c.args, r.err)
		}
		o := f.onlyPush(t).Options
		if o.Platform != c.platform || o.KeepUncompressed != c.keep {
			t.Errorf("%v: platform %q keep %v", c.args, o.Platform, o.KeepUncompressed)
		}
	}
	f := newFixture()
	if r := f.run(t, "", "oci:/x", "--timeout", "45s"); r.err != nil || f.onlyPush(t).Options.Timeout != 45*time.Second {
		t.Errorf("--timeout 45s: %v", r.err)
	}
	f = newFixture()
	if r := f.run(t, "", "oci:/x", "--timeout", "-5s"); r.err == nil || !strings.Contains(r.err.Error(), "--timeout -5s is negative") || len(f.registry.Pushes()) != 0 {
		t.Errorf("--timeout -5s: %v", r.err)
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/amd 64", "linux//arm64", "linux/arm64:x"} {
		f := newFixture()
		r := f.run(t, "", "oci:/x", "--platform", bad)
		if r.err == nil || !strings.Contains(r.err.Error(), "--platform") || !strings.Contains(r.err.Error(), "os/arch[/variant]") {
			t.Errorf("--platform %q: err = %v", bad, r.err)
		}
		if len(f.registry.Pushes()) != 0 || len(f.opened) != 0 {
			t.Errorf("--platform %q: opened or pushed anyway", bad)
		}
	}
}

func TestPlainRegistryWithUnknownDigest(t *testing.T) {
	// A classic docker archive: its digest is made by the push; a Registry that reports no
	// result leaves it unknown, so only the reference is printed.
	f := newFixture()
	f.deps.Registry = mocks.PlainRegistry{R: f.registry}
	f.archive.DigestValue, f.archive.RepoTagValue = "", "app:v1"
	r := f.run(t, "", "docker-archive:/x/app.tar", "-o", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stdout != `{"reference":"`+gitea+`app:v1","digest":"","bytes":0}`+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	// With --platform the image's digest (an index's) is not what went up.
	f = newFixture()
	f.deps.Registry = mocks.PlainRegistry{R: f.registry}
	r = f.run(t, "", "oci:/images/multi:v1", "--platform", "linux/arm64")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stdout != gitea+"multi:v1\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestBuildRefusesArchiveTransports(t *testing.T) {
	for _, image := range []string{"oci-archive:/x.tar", "docker-archive:/x.tar:app:1"} {
		f := newFixture()
		r := f.run(t, "", "--build", image)
		if r.err == nil || !strings.Contains(r.err.Error(), "IMAGE is the name for the built image") {
			t.Errorf("%s: err = %v", image, r.err)
		}
		if len(f.builder.Builds()) != 0 {
			t.Errorf("%s: built anyway", image)
		}
	}
}
