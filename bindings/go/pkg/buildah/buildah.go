// Package buildah implements types.Builder over the buildah command-line tool.
//
// Images found or built in local Buildah storage are exported with
// `buildah push IMAGE oci:TMPDIR:TAG` into a temporary OCI layout, which the push library
// then reads. The returned *Image owns that directory: the caller must Close it (the push
// command always does, also on errors and cancellation).
package buildah

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/source"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Environment variables that set the Builder's defaults (buildah itself reads the same ones).
const (
	EnvStorageDriver = "STORAGE_DRIVER"
	EnvIsolation     = "BUILDAH_ISOLATION"
)

// Defaults that work for root inside a container without extra privileges.
const (
	DefaultStorageDriver = "vfs"
	DefaultIsolation     = "chroot"
)

// Builder runs buildah. Use New for one configured from the environment.
type Builder struct {
	// Binary is the buildah executable ("buildah" from PATH when empty).
	Binary string
	// StorageDriver is passed as --storage-driver; when empty, $STORAGE_DRIVER or
	// DefaultStorageDriver, read when buildah runs.
	StorageDriver string
	// Isolation is passed to `buildah bud --isolation`; when empty, $BUILDAH_ISOLATION or
	// DefaultIsolation, read when buildah runs.
	Isolation string
	// Root and RunRoot, when set, are passed as --root and --runroot (another storage).
	Root, RunRoot string
	// TempDir is where exported layouts are made ("" for os.TempDir()).
	TempDir string
	// Output receives buildah's build output unless BuildOptions say otherwise (nil: stderr).
	Output io.Writer
}

var _ types.Builder = (*Builder)(nil)

// New returns a Builder whose storage driver and isolation come from $STORAGE_DRIVER (default
// vfs) and $BUILDAH_ISOLATION (default chroot) as they are when it runs, not when it is made:
// a host may set them after its commands were created (in a PersistentPreRun, say).
func New() *Builder { return &Builder{} }

// storageDriver and isolation are the settings buildah runs with.
func (b *Builder) storageDriver() string {
	return first(b.StorageDriver, os.Getenv(EnvStorageDriver), DefaultStorageDriver)
}

func (b *Builder) isolation() string {
	return first(b.Isolation, os.Getenv(EnvIsolation), DefaultIsolation)
}

// Image is an image exported from Buildah storage into a temporary OCI layout. It implements
// types.LocalImage and io.Closer; Close removes the temporary directory.
type Image struct {
	*source.Image
	ref  string
	dir  string
	once sync.Once
	err  error
}

var (
	_ types.LocalImage = (*Image)(nil)
	_ io.Closer        = (*Image)(nil)
)

// Ref is the image's reference (or ID) in Buildah storage.
func (i *Image) Ref() string { return i.ref }

// Close removes the temporary layout. It is safe to call more than once.
func (i *Image) Close() error {
	i.once.Do(func() { i.err = os.RemoveAll(i.dir) })
	return i.err
}

// Build runs `buildah bud` and returns the built image, exported for pushing. The caller
// must Close it.
func (b *Builder) Build(ctx context.Context, dockerfile string, contextDir string, opts types.BuildOptions) (types.Image, error) {
	if contextDir == "" {
		contextDir = "."
	}
	if st, err := os.Stat(contextDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", contextDir)
	}
	if dockerfile == "" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	if _, err := os.Stat(dockerfile); err != nil {
		return nil, fmt.Errorf("Dockerfile: %w", err)
	}
	idDir, err := os.MkdirTemp(b.TempDir, "idpbuilder-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(idDir)
	iidFile := filepath.Join(idDir, "iid")

	args := b.globalArgs(opts.StorageDriver)
	args = append(args, "bud", "--iidfile", iidFile, "-f", dockerfile)
	if iso := first(opts.Isolation, b.isolation()); iso != "" {
		args = append(args, "--isolation", iso)
	}
	if opts.Tag != "" {
		args = append(args, "-t", opts.Tag)
	}
	if opts.Quiet {
		args = append(args, "--quiet")
	}
	keys := make([]string, 0, len(opts.BuildArgs))
	for k := range opts.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+opts.BuildArgs[k])
	}
	args = append(args, contextDir)

	out := opts.Output
	if out == nil {
		out = b.Output
	}
	if out == nil {
		out = os.Stderr
	}
	if opts.Quiet {
		out = io.Discard
	}
	if err := b.run(ctx, out, args...); err != nil {
		return nil, fmt.Errorf("buildah bud: %w", err)
	}
	id, err := os.ReadFile(iidFile)
	if err != nil {
		return nil, fmt.Errorf("buildah bud wrote no image ID: %w", err)
	}
	tag := tagOf(opts.Tag)
	return b.export(ctx, strings.TrimSpace(string(id)), tag, opts.StorageDriver)
}

// GetImage finds imageRef (a name such as localhost/app:1, or an image ID) in local Buildah
// storage and exports it for pushing. The caller must Close the image.
func (b *Builder) GetImage(ctx context.Context, imageRef string) (types.Image, error) {
	if imageRef == "" {
		return nil, errors.New("empty image reference")
	}
	return b.export(ctx, imageRef, tagOf(imageRef), "")
}

// export runs `buildah push REF oci:DIR:TAG` into a new temporary directory.
func (b *Builder) export(ctx context.Context, ref, tag, driver string) (_ *Image, err error) {
	dir, err := os.MkdirTemp(b.TempDir, "idpbuilder-push-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if strings.Contains(dir, ":") {
		return nil, fmt.Errorf("temporary directory %s holds ':'; set TMPDIR elsewhere", dir)
	}
	layoutDir := filepath.Join(dir, "layout")
	args := append(b.globalArgs(driver), "push", "--quiet", ref, "oci:"+layoutDir+":"+tag)
	if err := b.run(ctx, io.Discard, args...); err != nil {
		return nil, fmt.Errorf("exporting %s from Buildah storage: %w", ref, err)
	}
	img, err := source.Open("oci:" + layoutDir + ":" + tag)
	if err != nil {
		return nil, err
	}
	return &Image{Image: img, ref: ref, dir: dir}, nil
}

func (b *Builder) globalArgs(driver string) []string {
	var args []string
	if d := first(driver, b.storageDriver()); d != "" {
		args = append(args, "--storage-driver", d)
	}
	if b.Root != "" {
		args = append(args, "--root", b.Root)
	}
	if b.RunRoot != "" {
		args = append(args, "--runroot", b.RunRoot)
	}
	return args
}

// run runs buildah with stdout and stderr going to out; a failure reports the last line
// buildah wrote to stderr.
func (b *Builder) run(ctx context.Context, out io.Writer, args ...string) error {
	bin := first(b.Binary, "buildah")
	cmd := exec.CommandContext(ctx, bin, args...)
	// On cancellation ask buildah to stop (it cleans up its containers), then kill it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	// Stdout and stderr are copied by two goroutines: serialize their writes to out.
	shared := &syncWriter{w: out}
	var stderr tail
	cmd.Stdout = shared
	cmd.Stderr = io.MultiWriter(shared, &stderr)
	err := cmd.Run()
	if ctx.Err() != nil {
		return &types.Error{Code: types.StatusCancelled, Message: bin + " was cancelled", Cause: ctx.Err()}
	}
	if err != nil {
		if line := stderr.lastLine(); line != "" {
			return errors.New(line)
		}
		return err
	}
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// tail keeps the end of what is written to it.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8192 {
		t.buf = t.buf[len(t.buf)-8192:]
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// tagOf is the tag of an image reference ("latest" when it has none).
func tagOf(ref string) string {
	if _, tag := source.SplitRepoTag(ref); tag != "" {
		return tag
	}
	return "latest"
}

// first is the first of values that is not empty, or "".
func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
