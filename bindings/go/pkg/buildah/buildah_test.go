package buildah

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestTagOf(t *testing.T) {
	for in, want := range map[string]string{
		"localhost/app:1":          "1",
		"localhost/app":            "latest",
		"localhost:5000/app":       "latest",
		"localhost:5000/app:v2":    "v2",
		"app@sha256:abc":           "latest",
		"app:v3@sha256:abc":        "v3",
		"0123456789abcdef01234567": "latest",
	} {
		if got := tagOf(in); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewReadsEnvironmentWhenItRuns(t *testing.T) {
	b := New() // made before the environment is set, as a package-level command is
	t.Setenv(EnvStorageDriver, "overlay")
	t.Setenv(EnvIsolation, "oci")
	if b.storageDriver() != "overlay" || b.isolation() != "oci" {
		t.Errorf("from the environment: %s %s", b.storageDriver(), b.isolation())
	}
	t.Setenv(EnvStorageDriver, "")
	t.Setenv(EnvIsolation, "")
	if b.storageDriver() != DefaultStorageDriver || b.isolation() != DefaultIsolation {
		t.Errorf("defaults: %s %s", b.storageDriver(), b.isolation())
	}
	set := &Builder{StorageDriver: "btrfs", Isolation: "rootless"}
	t.Setenv(EnvStorageDriver, "overlay")
	if set.storageDriver() != "btrfs" || set.isolation() != "rootless" {
		t.Errorf("fields win: %s %s", set.storageDriver(), set.isolation())
	}
}

// fakeBuildah writes a shell script standing in for buildah: it logs its arguments and, for
// push, writes an OCI layout copied from src.
func fakeBuildah(t *testing.T, src testenv.Layout, fail string) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "args")
	bin = filepath.Join(dir, "buildah")
	script := `#!/bin/sh
echo "$@" >> ` + log + `
for a in "$@"; do last2=$last; last=$a; done
case " $* " in
*" ` + fail + ` "*) echo "step 1 output"; echo "Error: something went wrong" >&2; exit 1 ;;
esac
case " $* " in
*" bud "*)
  while [ $# -gt 0 ]; do [ "$1" = --iidfile ] && echo 0123abcd > "$2"; shift; done ;;
*" push "*)
  dest=${last#oci:}; dir=${dest%:*}; tag=${dest##*:}
  mkdir -p "$dir" && cp -r ` + src.Dir + `/. "$dir/" &&
  sed -i "s/\"org.opencontainers.image.ref.name\":\"` + src.Tag + `\"/\"org.opencontainers.image.ref.name\":\"$tag\"/" "$dir/index.json" ;;
esac
`
	testenv.WriteExecutable(t, bin, script)
	return bin, log
}

func TestGetImageExportsAndCloseRemoves(t *testing.T) {
	src := testenv.WriteLayout(t, t.TempDir(), "orig", 10)
	bin, log := fakeBuildah(t, src, "NEVER")
	tmp := t.TempDir()
	b := &Builder{Binary: bin, StorageDriver: "vfs", Root: "/r", RunRoot: "/rr", TempDir: tmp}
	img, err := b.GetImage(context.Background(), "localhost/app:7")
	if err != nil {
		t.Fatal(err)
	}
	bi := img.(*Image)
	if img.Digest() != src.Digest || img.Tag() != "7" || bi.Ref() != "localhost/app:7" {
		t.Errorf("digest %s tag %s ref %s", img.Digest(), img.Tag(), bi.Ref())
	}
	args, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(args), "--storage-driver vfs --root /r --runroot /rr push --quiet localhost/app:7 oci:"+tmp) {
		t.Errorf("buildah args: %s", args)
	}
	if !strings.HasPrefix(bi.Source(), "oci:"+tmp) {
		t.Errorf("source %s", bi.Source())
	}
	if err := bi.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bi.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestBuild(t *testing.T) {
	src := testenv.WriteLayout(t, t.TempDir(), "orig", 10)
	bin, log := fakeBuildah(t, src, "NEVER")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	tmp := t.TempDir()
	b := &Builder{Binary: bin, StorageDriver: "vfs", Isolation: "chroot", TempDir: tmp}
	img, err := b.Build(context.Background(), "", ctxDir, types.BuildOptions{
		Tag: "localhost/app:2", Quiet: true, BuildArgs: map[string]string{"B": "2", "A": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer img.(*Image).Close()
	args, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	if len(lines) != 2 {
		t.Fatalf("buildah calls: %q", lines)
	}
	if !strings.Contains(lines[0], "--storage-driver vfs bud --iidfile ") ||
		!strings.HasSuffix(lines[0], "-f "+filepath.Join(ctxDir, "Dockerfile")+" --isolation chroot -t localhost/app:2 --quiet --build-arg A=1 --build-arg B=2 "+ctxDir) {
		t.Errorf("bud args: %s", lines[0])
	}
	if !strings.Contains(lines[1], "push --quiet 0123abcd oci:") || !strings.HasSuffix(lines[1], ":2") {
		t.Errorf("push args: %s", lines[1])
	}
	if img.Tag() != "2" {
		t.Errorf("tag %s", img.Tag())
	}
	// Only the exported layout remains until Close.
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("temp entries: %v", entries)
	}
}

func TestBuildErrors(t *testing.T) {
	src := testenv.WriteLayout(t, t.TempDir(), "orig", 10)
	bin, _ := fakeBuildah(t, src, "bud")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	tmp := t.TempDir()
	b := &Builder{Binary: bin, TempDir: tmp}
	var out strings.Builder
	_, err := b.Build(context.Background(), "", ctxDir, types.BuildOptions{Output: &out})
	if err == nil || err.Error() != "buildah bud: Error: something went wrong" {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out.String(), "step 1 output") {
		t.Errorf("build output not shown: %q", out.String())
	}
	if _, err := b.Build(context.Background(), "", filepath.Join(ctxDir, "missing"), types.BuildOptions{}); err == nil {
		t.Error("missing context accepted")
	}
	if _, err := b.Build(context.Background(), filepath.Join(ctxDir, "nope"), ctxDir, types.BuildOptions{}); err == nil {
		t.Error("missing Dockerfile accepted")
	}

	bin, _ = fakeBuildah(t, src, "push")
	b = &Builder{Binary: bin, TempDir: tmp}
	if _, err := b.GetImage(context.Background(), "localhost/nope:1"); err == nil || !strings.Contains(err.Error(), "something went wrong") {
		t.Errorf("err = %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("failed export left %v", entries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.GetImage(ctx, "localhost/app:1"); !errors.Is(err, types.ErrCancelled) {
		t.Errorf("cancelled: %v", err)
	}
}
