package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestParse(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "web"), "v1", 10)
	file := filepath.Join(dir, "img.tar")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	colon := filepath.Join(dir, "a:b.tar")
	if err := os.WriteFile(colon, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	plainDir := filepath.Join(dir, "plain")
	if err := os.Mkdir(plainDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		kind Kind
		path string
		ref  string
	}{
		{"oci:/x/web:v2", Layout, "/x/web", "v2"},
		{"oci:/x/web", Layout, "/x/web", ""},
		{l.Dir, Layout, l.Dir, ""},
		{l.Dir + ":v1", Layout, l.Dir, "v1"},
		{plainDir, Layout, plainDir, ""},
		{"oci-archive:/x/app.tar", OCIArchive, "/x/app.tar", ""},
		{"oci-archive:/x/app.tar:v3", OCIArchive, "/x/app.tar", "v3"},
		{"oci-archive:" + colon, OCIArchive, colon, ""},
		{"oci-archive:" + colon + ":t", OCIArchive, colon, "t"},
		{"docker-archive:/x/app.tar", DockerArchive, "/x/app.tar", ""},
		{"docker-archive:/x/app.tar:app:v1", DockerArchive, "/x/app.tar", "app:v1"},
		{"docker-archive:" + file + ":localhost:5000/team/app:v1", DockerArchive, file, "localhost:5000/team/app:v1"},
		{"docker-archive:" + colon + ":app:v1", DockerArchive, colon, "app:v1"},
		{file, Archive, file, ""},
		{file + ":v1", Archive, file, "v1"},
		{file + ":localhost:5000/app:v1", Archive, file, "localhost:5000/app:v1"},
		{colon, Archive, colon, ""},
		{"containers-storage:localhost/app:1", Storage, "", "localhost/app:1"},
		{"localhost/app:1", Storage, "", "localhost/app:1"},
		{"localhost:5000/team/app", Storage, "", "localhost:5000/team/app"},
		{"app", Storage, "", "app"},
		// A directory with a tag must hold a layout to be one.
		{plainDir + ":v1", Storage, "", plainDir + ":v1"},
	}
	for _, c := range cases {
		s, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if s.Kind != c.kind || s.Path != c.path || s.Ref != c.ref || s.Input != c.in {
			t.Errorf("Parse(%q) = %v %q %q; want %v %q %q", c.in, s.Kind, s.Path, s.Ref, c.kind, c.path, c.ref)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "the image is empty",
		"docker://x/y":        "the docker: transport is not supported",
		"docker-daemon:app:1": "the docker-daemon: transport is not supported",
		"dir:/x":              "the dir: transport is not supported",
		"oci:":                "names no directory",
		"oci-archive:":        "names no file",
		"docker-archive:":     "names no file",
		"containers-storage:": "names no image",
	} {
		_, err := Parse(in)
		if !errors.Is(err, types.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	l := testenv.WriteLayout(t, filepath.Join(dir, "web"), "v1", 10)
	oci := filepath.Join(dir, "oci.tar")
	testenv.WriteOCIArchive(t, oci, l)
	docker := filepath.Join(dir, "docker.tar")
	testenv.WriteDockerArchive(t, docker, testenv.DockerEntry{Image: testenv.ReadDockerImage(t, l), RepoTags: []string{"app:v1"}})

	for in, want := range map[string]string{
		"oci:" + l.Dir:               "oci:" + l.Dir,
		l.Dir + ":v1":                "oci:" + l.Dir + ":v1",
		"oci-archive:" + oci + ":v1": "oci-archive:" + oci + ":v1",
		oci:                          "oci-archive:" + oci,
		"docker-archive:" + docker:   "docker-archive:" + docker,
		docker + ":app:v1":           "docker-archive:" + docker + ":app:v1",
	} {
		img, err := Open(in)
		if err != nil {
			t.Errorf("Open(%q): %v", in, err)
			continue
		}
		if img.Source() != want {
			t.Errorf("Open(%q).Source() = %q, want %q", in, img.Source(), want)
		}
	}
	if _, err := Open("localhost/app:1"); !errors.Is(err, types.ErrInvalidSource) {
		t.Errorf("storage image: %v", err)
	}
}

func TestBaseName(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    Spec
		want string
	}{
		{Spec{Kind: Layout, Path: "/x/My-Layout/"}, "My-Layout"},
		{Spec{Kind: Layout, Path: "."}, filepath.Base(wd)},
		{Spec{Kind: OCIArchive, Path: "/x/app.tar"}, "app"},
		{Spec{Kind: DockerArchive, Path: "rel/Saved.TAR"}, "Saved"},
		{Spec{Kind: Archive, Path: "/x/image"}, "image"},
	} {
		if got := c.s.BaseName(); got != c.want {
			t.Errorf("%+v.BaseName() = %q, want %q", c.s, got, c.want)
		}
	}
}
