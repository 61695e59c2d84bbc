package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestParseSource(t *testing.T) {
	dirWithColon := filepath.Join(t.TempDir(), "a:b")
	if err := os.Mkdir(dirWithColon, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, dir, tag string }{
		{"oci:/x/y:v1", "/x/y", "v1"},
		{"oci:/x/y", "/x/y", ""},
		{"/x/y:v1", "/x/y", "v1"},
		{"oci:" + dirWithColon, dirWithColon, ""},
		{dirWithColon + ":t", dirWithColon, "t"},
		{"oci:rel/dir:tag", "rel/dir", "tag"},
		{"host:5000/x", "host:5000/x", ""},
	}
	for _, c := range cases {
		dir, tag := ParseSource(c.in)
		if dir != c.dir || tag != c.tag {
			t.Errorf("ParseSource(%q) = %q, %q; want %q, %q", c.in, dir, tag, c.dir, c.tag)
		}
	}
}

func TestOpen(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100, 200)
	for _, src := range []string{l.Source(), "oci:" + l.Dir, l.Dir} {
		img, err := Open(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if img.Digest() != l.Digest || img.Tag() != "v1" || img.Dir() != l.Dir {
			t.Errorf("%s: digest %s tag %s dir %s", src, img.Digest(), img.Tag(), img.Dir())
		}
		m, err := img.Manifest()
		if err != nil || testenv.Sha256(m) != l.Digest {
			t.Errorf("%s: manifest: %v", src, err)
		}
		if !strings.HasPrefix(img.Source(), "oci:"+l.Dir) {
			t.Errorf("%s: Source() = %s", src, img.Source())
		}
	}
	if !IsLayout(l.Dir) || IsLayout(t.TempDir()) {
		t.Error("IsLayout")
	}
}

func TestOpenErrors(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 10)
	cases := []struct{ src, want string }{
		{"oci:" + t.TempDir() + ":v1", "cannot read OCI layout"},
		{l.Dir + ":nope", `no image tagged "nope" (tags: v1)`},
	}
	for _, c := range cases {
		_, err := Open(c.src)
		if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want InvalidSource %q", c.src, err, c.want)
		}
	}

	// A corrupted manifest blob is caught by Manifest().
	img, err := Open(l.Source())
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(l.Dir, "blobs", "sha256", strings.TrimPrefix(l.Digest, "sha256:"))
	b, _ := os.ReadFile(blob)
	b[len(b)-2] ^= 1
	os.WriteFile(blob, b, 0o644)
	if _, err := img.Manifest(); !errors.Is(err, types.ErrDigestMismatch) {
		t.Errorf("corrupted manifest: %v", err)
	}

	// Several images and no tag.
	two := t.TempDir()
	testenv.WriteLayout(t, two, "a", 10)
	idx, _ := os.ReadFile(filepath.Join(two, "index.json"))
	s := strings.Replace(string(idx), `"manifests":[`, `"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("0", 64)+`","size":1,"annotations":{"org.opencontainers.image.ref.name":"b"}},`, 1)
	os.WriteFile(filepath.Join(two, "index.json"), []byte(s), 0o644)
	if _, err := Open(two); err == nil || !strings.Contains(err.Error(), "holds 2 images") {
		t.Errorf("two images: %v", err)
	}

	// A digest that would leave the layout.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "index.json"), []byte(`{"manifests":[{"digest":"sha256:../../etc/passwd","size":1}]}`), 0o644)
	if _, err := Open(bad); !errors.Is(err, types.ErrInvalidSource) {
		t.Errorf("bad digest: %v", err)
	}
}
