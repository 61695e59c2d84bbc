//go:build integration

package buildah

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/registry"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestRealBuildahBuildAndPush(t *testing.T) {
	env := testenv.Load(t)
	storage := testenv.NewStorage(t)
	ctxDir := t.TempDir()
	dockerfile := "FROM " + testenv.BaseImage + "\n" +
		"RUN echo built-by-buildah > /hello && ls /bin/busybox >> /hello\n" +
		"COPY data.txt /data.txt\n" +
		`CMD ["/bin/sh", "-c", "cat /hello"]` + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "data.txt"), []byte("context file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	b := &Builder{StorageDriver: "vfs", Isolation: "chroot", Root: storage.Root, RunRoot: storage.RunRoot, TempDir: tmp}
	var out strings.Builder
	img, err := b.Build(context.Background(), "", ctxDir, types.BuildOptions{Tag: "localhost/itest-app:1", Output: &out})
	if err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "RUN echo built-by-buildah") {
		t.Errorf("build output %q", out.String())
	}
	dest := env.Ref("buildah", "1")
	res, err := (&registry.Client{}).PushImage(context.Background(), img, dest, types.PushOptions{
		Credentials: env.Credentials(), TLS: idptls.Options{CAFile: env.CA},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Config + base layer + one layer for the build (buildah bud commits one layer without --layers).
	m, err := img.Manifest()
	if err != nil || strings.Count(string(m), `"digest"`) != 3 {
		t.Errorf("manifest %s: %v", m, err)
	}
	if err := img.(*Image).Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary layout left behind: %v", entries)
	}
	got, err := env.SkopeoDigest(t, dest)
	if err != nil {
		t.Fatal(err)
	}
	if got != res.Digest {
		t.Errorf("skopeo sees %s, we pushed %s", got, res.Digest)
	}

	// The same image found by name in storage.
	found, err := b.GetImage(context.Background(), "localhost/itest-app:1")
	if err != nil {
		t.Fatal(err)
	}
	defer found.(*Image).Close()
	if found.Digest() != res.Digest || found.Tag() != "1" {
		t.Errorf("GetImage: digest %s tag %s, built %s", found.Digest(), found.Tag(), res.Digest)
	}
	if _, err := b.GetImage(context.Background(), "localhost/not-there:1"); err == nil {
		t.Error("GetImage of a missing image succeeded")
	}
}
