package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// These tests open real layouts and archives through the push library (idp_inspect): what
// Open reports must be what a push of the same source sends.

func TestOpenLayout(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 100, 200)
	for _, src := range []string{l.Source(), "oci:" + l.Dir, l.Dir} {
		img, err := Open(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if img.Kind() != Layout || img.Digest() != l.Digest || img.Tag() != "v1" || img.Path() != l.Dir || img.RepoTag() != "" {
			t.Errorf("%s: kind %v digest %s tag %s path %s repo tag %q", src, img.Kind(), img.Digest(), img.Tag(), img.Path(), img.RepoTag())
		}
		if !strings.Contains(img.MediaType(), "manifest") {
			t.Errorf("%s: media type %q", src, img.MediaType())
		}
		m, err := img.Manifest()
		if err != nil || testenv.Sha256(m) != l.Digest {
			t.Errorf("%s: manifest: %v", src, err)
		}
		want := "oci:" + l.Dir
		if src == l.Source() {
			want = l.Source()
		}
		if img.Source() != want {
			t.Errorf("%s: Source() = %s, want %s", src, img.Source(), want)
		}
	}
}

func TestOpenLayoutErrors(t *testing.T) {
	l := testenv.WriteLayout(t, t.TempDir(), "v1", 10)
	corrupted := testenv.WriteLayout(t, t.TempDir(), "v1", 10)
	blob := filepath.Join(corrupted.Dir, "blobs", "sha256", strings.TrimPrefix(corrupted.Digest, "sha256:"))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 1
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	two := t.TempDir()
	testenv.WriteLayout(t, two, "a", 10)
	idx, _ := os.ReadFile(filepath.Join(two, "index.json"))
	s := strings.Replace(string(idx), `"manifests":[`, `"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("0", 64)+`","size":1,"annotations":{"org.opencontainers.image.ref.name":"b"}},`, 1)
	if err := os.WriteFile(filepath.Join(two, "index.json"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := t.TempDir()
	if err := os.WriteFile(filepath.Join(escape, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(escape, "index.json"), []byte(`{"manifests":[{"digest":"sha256:../../etc/passwd","size":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		src, want string
		code      types.Status
	}{
		{"oci:" + t.TempDir() + ":v1", "is not an OCI layout: cannot read its oci-layout file", types.StatusInvalidSource},
		{l.Dir + ":nope", `no image tagged "nope" (tags: v1)`, types.StatusInvalidSource},
		{"oci:" + corrupted.Dir, corrupted.Digest, types.StatusDigestMismatch},
		{"oci:" + two, "holds 2 images", types.StatusInvalidSource},
		{"oci:" + escape, "sha256:../../etc/passwd", types.StatusInvalidSource},
	} {
		_, err := Open(c.src)
		var e *types.Error
		if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line, status %v, containing %q", c.src, err, c.code, c.want)
		}
	}
}

func TestOpenOCIArchive(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	file := filepath.Join(dir, "app.tar")
	testenv.WriteOCIArchive(t, file, l)
	// The same with "./"-prefixed names, as `tar -C layout -cf x.tar .` writes them.
	dotted := filepath.Join(dir, "dotted.tar")
	testenv.WriteTar(t, dotted, append([]testenv.TarFile{{Name: "./", Type: tar.TypeDir}}, testenv.LayoutFiles(t, l.Dir, "./")...))

	for _, c := range []struct{ in, tag, src string }{
		{"oci-archive:" + file, "v1", "oci-archive:" + file},
		{"oci-archive:" + file + ":v1", "v1", "oci-archive:" + file + ":v1"},
		{file, "v1", "oci-archive:" + file},
		{dotted + ":v1", "v1", "oci-archive:" + dotted + ":v1"},
	} {
		img, err := Open(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if img.Kind() != OCIArchive || img.Digest() != l.Digest || img.Tag() != c.tag || img.Source() != c.src || img.RepoTag() != "" {
			t.Errorf("%s: kind %v digest %s tag %q source %q repo tag %q", c.in, img.Kind(), img.Digest(), img.Tag(), img.Source(), img.RepoTag())
		}
		if m, err := img.Manifest(); err != nil || testenv.Sha256(m) != l.Digest {
			t.Errorf("%s: Manifest: %v", c.in, err)
		}
	}
	if _, err := Open("oci-archive:" + file + ":nope"); !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), `no image tagged "nope" (tags: v1)`) {
		t.Errorf("unknown tag: %v", err)
	}
}

func TestOCIArchiveWithTwoImagesNeedsATag(t *testing.T) {
	dir := t.TempDir()
	a := testenv.WriteLayout(t, filepath.Join(dir, "a"), "a", 10)
	b := testenv.WriteLayout(t, filepath.Join(dir, "b"), "b", 20)
	// One index.json listing both images, blobs of both.
	ia, ib := testenv.LayoutFiles(t, a.Dir, ""), testenv.LayoutFiles(t, b.Dir, "")
	index := `{"schemaVersion":2,"manifests":[` + manifestsOf(t, ia[1].Data) + "," + manifestsOf(t, ib[1].Data) + `]}`
	files := []testenv.TarFile{ia[0], {Name: "index.json", Data: []byte(index)}}
	files = append(append(files, ia[2:]...), ib[2:]...)
	file := filepath.Join(dir, "two.tar")
	testenv.WriteTar(t, file, files)

	_, err := Open("oci-archive:" + file)
	if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "holds 2 images; choose one with oci-archive:"+file+":TAG (tags: a, b)") {
		t.Fatalf("err = %v", err)
	}
	img, err := Open("oci-archive:" + file + ":b")
	if err != nil || img.Digest() != b.Digest || img.Tag() != "b" {
		t.Fatalf("tag b: %v %v", img, err)
	}
}

// manifestsOf is the one descriptor of an index.json, as JSON.
func manifestsOf(t *testing.T, index []byte) string {
	t.Helper()
	s := string(index)
	i, j := strings.Index(s, "[{"), strings.LastIndex(s, "}]")
	if i < 0 || j < 0 {
		t.Fatalf("index.json %s", s)
	}
	return s[i+1 : j+1]
}

func TestOpenDockerArchiveClassic(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	img := testenv.ReadDockerImage(t, l)
	file := filepath.Join(dir, "saved.tar")
	testenv.WriteDockerArchive(t, file, testenv.DockerEntry{Image: img, RepoTags: []string{"docker.io/library/app:v1"}})

	for _, c := range []struct{ in, repoTag, tag, src string }{
		{"docker-archive:" + file, "app:v1", "v1", "docker-archive:" + file},
		{"docker-archive:" + file + ":app:v1", "app:v1", "v1", "docker-archive:" + file + ":app:v1"},
		{"docker-archive:" + file + ":docker.io/library/app:v1", "app:v1", "v1", "docker-archive:" + file + ":docker.io/library/app:v1"},
		{file + ":app:v1", "app:v1", "v1", "docker-archive:" + file + ":app:v1"},
	} {
		got, err := Open(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got.Kind() != DockerArchive || got.RepoTag() != c.repoTag || got.Tag() != c.tag || got.Source() != c.src || got.Path() != file {
			t.Errorf("%s: kind %v repo tag %q tag %q source %q", c.in, got.Kind(), got.RepoTag(), got.Tag(), got.Source())
		}
		// The classic form holds no manifest: the push makes it.
		if got.Digest() != "" || got.MediaType() != "" {
			t.Errorf("%s: Digest() = %q, want \"\" (made by the push)", c.in, got.Digest())
		}
		if _, err := got.Manifest(); !errors.Is(err, types.ErrManifestNotStored) {
			t.Errorf("%s: Manifest: %v", c.in, err)
		}
	}
	if _, err := Open("docker-archive:" + file + ":other:v1"); !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "has no image named other:v1 (it has: app:v1)") {
		t.Errorf("unknown name: %v", err)
	}
	// A name without a tag means :latest, as in docker.
	if _, err := Open("docker-archive:" + file + ":app"); err == nil || !strings.Contains(err.Error(), "no image named app:latest") {
		t.Errorf("app: %v", err)
	}
}

func TestOpenDockerArchiveNames(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 10)
	img := testenv.ReadDockerImage(t, l)
	other := testenv.ReadDockerImage(t, testenv.WriteLayout(t, filepath.Join(dir, "other"), "v1", 20))

	untagged := filepath.Join(dir, "untagged.tar")
	testenv.WriteDockerArchive(t, untagged, testenv.DockerEntry{Image: img})
	if got, err := Open("docker-archive:" + untagged); err != nil || got.RepoTag() != "" || got.Tag() != "" {
		t.Errorf("untagged: %v", err)
	}
	twoTags := filepath.Join(dir, "two-tags.tar")
	testenv.WriteDockerArchive(t, twoTags, testenv.DockerEntry{Image: img, RepoTags: []string{"app:1", "app:2"}})
	if got, err := Open("docker-archive:" + twoTags); err != nil || got.RepoTag() != "" {
		t.Errorf("two tags: %v; want no repo tag (no single RepoTag)", err)
	}
	if got, err := Open("docker-archive:" + twoTags + ":app:2"); err != nil || got.RepoTag() != "app:2" {
		t.Errorf("two tags, app:2: %v", err)
	}
	twoImages := filepath.Join(dir, "two-images.tar")
	testenv.WriteDockerArchive(t, twoImages,
		testenv.DockerEntry{Image: img, RepoTags: []string{"app:v1"}},
		testenv.DockerEntry{Image: other, RepoTags: []string{"localhost:5000/team/other:b"}})
	if _, err := Open("docker-archive:" + twoImages); err == nil || !strings.Contains(err.Error(),
		"holds 2 images; choose one with docker-archive:"+twoImages+":NAME:TAG (images: app:v1, localhost:5000/team/other:b)") {
		t.Errorf("two images: %v", err)
	}
	got, err := Open("docker-archive:" + twoImages + ":localhost:5000/team/other:b")
	if err != nil || got.RepoTag() != "localhost:5000/team/other:b" || got.Tag() != "b" {
		t.Errorf("other: %v", err)
	}
}

func TestOpenDockerArchiveWithOCILayout(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	file := filepath.Join(dir, "docker25.tar")
	want := testenv.WriteDockerOCIArchive(t, file, l, "app:v1")
	// manifest.json wins over oci-layout when the kind is detected.
	for _, in := range []string{"docker-archive:" + file, "docker-archive:" + file + ":app:v1", file} {
		img, err := Open(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if img.Kind() != DockerArchive || img.Digest() != want || img.Tag() != "v1" || img.RepoTag() != "app:v1" {
			t.Errorf("%s: kind %v digest %q tag %q", in, img.Kind(), img.Digest(), img.Tag())
		}
		if m, err := img.Manifest(); err != nil || testenv.Sha256(m) != want {
			t.Errorf("%s: Manifest: %v", in, err)
		}
	}
	// Without the image name annotation and with two index entries, the manifest is found by
	// its config.
	two := filepath.Join(dir, "by-config.tar")
	o := testenv.WriteLayout(t, filepath.Join(dir, "other"), "x", 10)
	files := testenv.LayoutFiles(t, l.Dir, "")
	of := testenv.LayoutFiles(t, o.Dir, "")
	files[1].Data = []byte(`{"schemaVersion":2,"manifests":[` + manifestsOf(t, of[1].Data) + "," + manifestsOf(t, files[1].Data) + `]}`)
	files = append(files, of[2:]...)
	cfg := testenv.ReadDockerImage(t, l).Config
	files = append(files, testenv.TarFile{Name: "manifest.json", Data: []byte(`[{"Config":"blobs/sha256/` +
		strings.TrimPrefix(testenv.Sha256(cfg), "sha256:") + `","RepoTags":["app:v1"],"Layers":[]}]`)})
	testenv.WriteTar(t, two, files)
	img, err := Open("docker-archive:" + two)
	if err != nil || img.Digest() != l.Digest {
		t.Fatalf("by config: %v; want digest %s", err, l.Digest)
	}
}

func TestOpenRefusesBadArchives(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 10)
	oci := filepath.Join(dir, "oci.tar")
	testenv.WriteOCIArchive(t, oci, l)
	docker := filepath.Join(dir, "docker.tar")
	testenv.WriteDockerArchive(t, docker, testenv.DockerEntry{Image: testenv.ReadDockerImage(t, l), RepoTags: []string{"app:v1"}})

	raw, err := os.ReadFile(oci)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compressed := write("oci.tar.gz", gz.Bytes())
	empty := write("empty.tar", nil)
	text := write("notes.txt", bytes.Repeat([]byte("not a tar archive\n"), 100))
	truncated := write("truncated.tar", raw[:len(raw)/2+100])
	neither := filepath.Join(dir, "neither.tar")
	testenv.WriteTar(t, neither, []testenv.TarFile{{Name: "hello.txt", Data: []byte("hi")}})
	loop := filepath.Join(dir, "loop.tar")
	testenv.WriteTar(t, loop, []testenv.TarFile{
		{Name: "oci-layout", Type: tar.TypeSymlink, Link: "index.json"},
		{Name: "index.json", Type: tar.TypeSymlink, Link: "oci-layout"},
	})
	escape := filepath.Join(dir, "escape.tar")
	testenv.WriteTar(t, escape, []testenv.TarFile{
		{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{Name: "index.json", Type: tar.TypeSymlink, Link: "../../../etc/passwd"},
	})

	for _, c := range []struct{ name, in, want string }{
		{"gzip", compressed, "is gzip-compressed; decompress it first"},
		{"gzip as oci-archive", "oci-archive:" + compressed, "is gzip-compressed"},
		{"empty", empty, "empty.tar is empty"},
		{"not a tar", text, "notes.txt is not a tar archive (its first 512 bytes are not a valid tar header)"},
		{"truncated", truncated, "is truncated"},
		{"neither kind", neither, "neither an OCI archive (no oci-layout) nor a docker archive (no manifest.json)"},
		{"missing", "oci-archive:" + filepath.Join(dir, "nope.tar"), "cannot open OCI archive " + filepath.Join(dir, "nope.tar") + ": no such file or directory"},
		{"directory", "oci-archive:" + l.Dir, "is a directory, not a tar file; for an OCI layout directory write oci:"},
		{"docker archive as oci-archive", "oci-archive:" + docker, "docker.tar is not an OCI layout: cannot read its oci-layout file"},
		{"oci archive as docker-archive", "docker-archive:" + oci, "is not a docker archive: it has no manifest.json; it is an OCI archive: write oci-archive:"},
		{"link loop", loop, "neither an OCI archive"},
		{"link leaving the archive", "oci-archive:" + escape, `entry "index.json" is a symbolic link to "../../../etc/passwd", which points outside the archive`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.in)
			if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want invalid source containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

func TestSplitRepoTag(t *testing.T) {
	for in, want := range map[string][2]string{
		"app:v1":                    {"app", "v1"},
		"localhost:5000/team/app":   {"localhost:5000/team/app", ""},
		"localhost:5000/team/app:3": {"localhost:5000/team/app", "3"},
		"app@sha256:abc":            {"app", ""},
	} {
		if r, tag := SplitRepoTag(in); r != want[0] || tag != want[1] {
			t.Errorf("SplitRepoTag(%q) = %q, %q", in, r, tag)
		}
	}
}
