package archive

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

func TestMain(m *testing.M) { testenv.Main(m) }

func TestOCIArchive(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	file := filepath.Join(dir, "app.tar")
	testenv.WriteOCIArchive(t, file, l)
	// The same with "./"-prefixed names, as `tar -C layout -cf x.tar .` writes them.
	dotted := filepath.Join(dir, "dotted.tar")
	testenv.WriteTar(t, dotted, append([]testenv.TarFile{{Name: "./", Type: tar.TypeDir}}, testenv.LayoutFiles(t, l.Dir, "./")...))

	for _, c := range []struct {
		name string
		open func() (Image, error)
		tag  string
		src  string
	}{
		{"OpenOCI without tag", func() (Image, error) { return OpenOCI(file, "") }, "v1", "oci-archive:" + file},
		{"OpenOCI with tag", func() (Image, error) { return OpenOCI(file, "v1") }, "v1", "oci-archive:" + file + ":v1"},
		{"Open detects OCI", func() (Image, error) { return Open(file, "") }, "v1", "oci-archive:" + file},
		{"./ names", func() (Image, error) { return Open(dotted, "v1") }, "v1", "oci-archive:" + dotted + ":v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			if img.Kind() != OCI || img.Digest() != l.Digest || img.Tag() != c.tag || img.Source() != c.src {
				t.Errorf("kind %v digest %s tag %q source %q", img.Kind(), img.Digest(), img.Tag(), img.Source())
			}
			m, err := img.Manifest()
			if err != nil || testenv.Sha256(m) != l.Digest {
				t.Errorf("Manifest: %v", err)
			}
			if _, named := img.(interface{ RepoTag() string }); named {
				t.Error("an OCI archive image claims a repo tag")
			}
		})
	}
	if img, err := Open(file, ""); err != nil || img.Kind() != OCI {
		t.Errorf("Open detects %v, %v", img, err)
	}
	if _, err := OpenOCI(file, "nope"); !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), `no image tagged "nope" (tags: v1)`) {
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

	_, err := OpenOCI(file, "")
	if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "holds 2 images; choose one with oci-archive:"+file+":TAG (tags: a, b)") {
		t.Fatalf("err = %v", err)
	}
	img, err := OpenOCI(file, "b")
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

func TestDockerArchiveClassic(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	img := testenv.ReadDockerImage(t, l)
	file := filepath.Join(dir, "saved.tar")
	testenv.WriteDockerArchive(t, file, testenv.DockerEntry{Image: img, RepoTags: []string{"docker.io/library/app:v1"}})

	for _, c := range []struct {
		name, asked, repoTag, tag, src string
	}{
		{"the only RepoTag", "", "app:v1", "v1", "docker-archive:" + file},
		{"NAME:TAG", "app:v1", "app:v1", "v1", "docker-archive:" + file + ":app:v1"},
		{"full name", "docker.io/library/app:v1", "app:v1", "v1", "docker-archive:" + file + ":docker.io/library/app:v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := OpenDocker(file, c.asked)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind() != Docker || got.RepoTag() != c.repoTag || got.Tag() != c.tag || got.Source() != c.src || got.File() != file {
				t.Errorf("kind %v repo tag %q tag %q source %q", got.Kind(), got.RepoTag(), got.Tag(), got.Source())
			}
			// The classic form holds no manifest: the push makes it.
			if got.Digest() != "" {
				t.Errorf("Digest() = %q, want \"\" (made by the push)", got.Digest())
			}
			if _, err := got.Manifest(); !errors.Is(err, types.ErrManifestNotStored) {
				t.Errorf("Manifest: %v", err)
			}
		})
	}
	detected, err := Open(file, "app:v1")
	if err != nil || detected.Kind() != Docker || detected.Source() != "docker-archive:"+file+":app:v1" {
		t.Errorf("Open: %v, %v", detected, err)
	}
	if _, err := OpenDocker(file, "other:v1"); !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), "has no image named other:v1 (it has: app:v1)") {
		t.Errorf("unknown name: %v", err)
	}
	// A name without a tag means :latest, as in docker.
	if _, err := OpenDocker(file, "app"); err == nil || !strings.Contains(err.Error(), "no image named app:latest") {
		t.Errorf("app: %v", err)
	}
}

func TestDockerArchiveNames(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 10)
	img := testenv.ReadDockerImage(t, l)
	other := testenv.ReadDockerImage(t, testenv.WriteLayout(t, filepath.Join(dir, "other"), "v1", 20))

	untagged := filepath.Join(dir, "untagged.tar")
	testenv.WriteDockerArchive(t, untagged, testenv.DockerEntry{Image: img})
	if got, err := OpenDocker(untagged, ""); err != nil || got.RepoTag() != "" || got.Tag() != "" {
		t.Errorf("untagged: %+v %v", got, err)
	}
	twoTags := filepath.Join(dir, "two-tags.tar")
	testenv.WriteDockerArchive(t, twoTags, testenv.DockerEntry{Image: img, RepoTags: []string{"app:1", "app:2"}})
	if got, err := OpenDocker(twoTags, ""); err != nil || got.RepoTag() != "" {
		t.Errorf("two tags: repo tag %q, %v; want none (no single RepoTag)", got.RepoTag(), err)
	}
	if got, err := OpenDocker(twoTags, "app:2"); err != nil || got.RepoTag() != "app:2" {
		t.Errorf("two tags, app:2: %v", err)
	}
	twoImages := filepath.Join(dir, "two-images.tar")
	testenv.WriteDockerArchive(t, twoImages,
		testenv.DockerEntry{Image: img, RepoTags: []string{"app:v1"}},
		testenv.DockerEntry{Image: other, RepoTags: []string{"localhost:5000/team/other:b"}})
	if _, err := OpenDocker(twoImages, ""); err == nil || !strings.Contains(err.Error(),
		"holds 2 images; choose one with docker-archive:"+twoImages+":NAME:TAG (images: app:v1, localhost:5000/team/other:b)") {
		t.Errorf("two images: %v", err)
	}
	got, err := OpenDocker(twoImages, "localhost:5000/team/other:b")
	if err != nil || got.RepoTag() != "localhost:5000/team/other:b" || got.Tag() != "b" {
		t.Errorf("other: %v", err)
	}
}

func TestDockerArchiveWithOCILayout(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "layout"), "v1", 100, 200)
	file := filepath.Join(dir, "docker25.tar")
	want := testenv.WriteDockerOCIArchive(t, file, l, "app:v1")
	for _, open := range []func() (Image, error){
		func() (Image, error) { return OpenDocker(file, "") },
		func() (Image, error) { return OpenDocker(file, "app:v1") },
		func() (Image, error) { return Open(file, "") }, // manifest.json wins over oci-layout
	} {
		img, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if img.Kind() != Docker || img.Digest() != want || img.Tag() != "v1" {
			t.Errorf("kind %v digest %q tag %q", img.Kind(), img.Digest(), img.Tag())
		}
		m, err := img.Manifest()
		if err != nil || testenv.Sha256(m) != want {
			t.Errorf("Manifest: %v", err)
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
	img, err := OpenDocker(two, "")
	if err != nil || img.Digest() != l.Digest {
		t.Fatalf("by config: digest %q, %v; want %s", img.Digest(), err, l.Digest)
	}
}

func TestRefusedArchives(t *testing.T) {
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
	noMarker := write("no-marker.tar", raw[:len(raw)-1024]) // every entry whole, the end marker cut off
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

	for _, c := range []struct {
		name, want string
		open       func() error
	}{
		{"gzip", "is gzip-compressed; decompress it first", func() error { _, err := Open(compressed, ""); return err }},
		{"gzip as oci-archive", "is gzip-compressed", func() error { _, err := OpenOCI(compressed, ""); return err }},
		{"empty", "is empty", func() error { _, err := Open(empty, ""); return err }},
		{"not a tar", "is not a tar archive", func() error { _, err := Open(text, ""); return err }},
		{"truncated", "truncated", func() error { _, err := Open(truncated, ""); return err }},
		{"without end marker", "is truncated: it ends after entry", func() error { _, err := Open(noMarker, ""); return err }},
		{"neither kind", "neither an OCI archive (no oci-layout) nor a docker archive (no manifest.json)", func() error { _, err := Open(neither, ""); return err }},
		{"missing", "cannot open archive", func() error { _, err := Open(filepath.Join(dir, "nope.tar"), ""); return err }},
		{"directory", "is a directory, not a tar file; for an OCI layout directory write oci:", func() error { _, err := Open(l.Dir, ""); return err }},
		{"docker archive as oci-archive", "is not an OCI archive: it has no index.json; it is a docker archive: write docker-archive:", func() error { _, err := OpenOCI(docker, ""); return err }},
		{"oci archive as docker-archive", "is not a docker archive: it has no manifest.json; it is an OCI archive: write oci-archive:", func() error { _, err := OpenDocker(oci, ""); return err }},
		{"link loop", "neither an OCI archive", func() error { _, err := Open(loop, ""); return err }},
		{"link leaving the archive", "leads outside the archive", func() error { _, err := OpenOCI(escape, ""); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.open()
			if !errors.Is(err, types.ErrInvalidSource) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want invalid source containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

func TestFamiliarAndSplitRepoTag(t *testing.T) {
	for in, want := range map[string]string{
		"app":                             "app:latest",
		"app:v1":                          "app:v1",
		"docker.io/library/app:v1":        "app:v1",
		"docker.io/team/app":              "team/app:latest",
		"index.docker.io/library/a/b:1":   "library/a/b:1",
		"localhost:5000/app":              "localhost:5000/app:latest",
		"localhost:5000/app:2":            "localhost:5000/app:2",
		"quay.io/x/app@sha256:0123456789": "quay.io/x/app@sha256:0123456789",
	} {
		if got := Familiar(in); got != want {
			t.Errorf("Familiar(%q) = %q, want %q", in, got, want)
		}
	}
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
	for in, want := range map[string]string{"/x/App.tar": "App", "img.TAR": "img", "a.tar.gz": "a.tar.gz", ".tar": ".tar", "dir/noext": "noext"} {
		if got := BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
