// Package push is the `idpbuilder push` Cobra command: it pushes a local image (an OCI layout,
// an oci-archive or docker-archive tar, or an image in Buildah storage, optionally built
// first) to IDPBuilder's Gitea registry or any OCI registry, through the Rust push library.
//
// IDPBuilder adds it with one line: rootCmd.AddCommand(push.PushCmd).
//
// The command returns errors instead of printing them (SilenceErrors), so that the host
// prints each error exactly once, as one line, and exits 1; see Execute for a helper.
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/buildah"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/cmd/internal/cmdutil"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/registry"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/source"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Defaults: IDPBuilder's Gitea and its admin user's namespace.
const (
	DefaultRegistry = cmdutil.DefaultRegistry
	DefaultOwner    = "giteaadmin"
	DefaultTag      = "latest"
)

const (
	pushUse   = "push [flags] IMAGE"
	pushShort = "Push a local image to IDPBuilder's Gitea registry"
	pushLong  = `Push a local image to IDPBuilder's Gitea container registry (or any OCI registry).

IMAGE is one of:
  oci:DIR[:TAG]                   an OCI layout (or just a directory holding one)
  oci-archive:FILE[:TAG]          a tar of an OCI layout (skopeo, buildah, buildx type=oci)
  docker-archive:FILE[:NAME:TAG]  docker save / podman save output (also docker 25+'s form)
  FILE[:TAG] or FILE[:NAME:TAG]   a tar file: manifest.json makes it a docker archive,
                                  oci-layout an OCI archive
  NAME                            an image in local Buildah storage (localhost/app:1, also
                                  containers-storage:NAME)
Archives are read in place (nothing is extracted) and must be uncompressed: a .tar.gz is
refused, decompress it first. Layers of classic docker archives are gzip-compressed while they are
pushed (--keep-uncompressed pushes them as stored), so their digest is known only afterwards.
With --build, IMAGE is the name to give the image that Buildah builds from --file and
--context before it is pushed.

An OCI index (multi-platform image) is pushed whole, children first; --platform os/arch[/variant]
pushes only that platform's image under the tag (and for a single image checks its platform).

The destination defaults to gitea.cnoe.localtest.me:8443/giteaadmin/NAME:TAG. NAME (lowercased)
is the layout directory's name, the archive file's name without .tar, the NAME of a docker
archive's NAME:TAG or else its only RepoTag, or the image name. TAG comes from IMAGE, else from
the image (the layout's or archive's ref name, the RepoTag's tag), else "latest". --registry and
--owner change the other parts; --dest sets the whole reference.

Credentials come from --password-stdin (or --password) with --username, else from
IDPBUILDER_REGISTRY_PASSWORD with IDPBUILDER_REGISTRY_USERNAME (the user defaults to giteaAdmin
when only a password is given). Without either, they are looked up as docker does: the docker
config (auths, credHelpers, credsStore; see ` + "`idpbuilder login`" + `), then
$REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json; else the push is anonymous.
(` + "`idpbuilder get secrets -p gitea`" + ` shows Gitea's password.)

The registry's certificate is trusted through --ca-file, the certs.d directories
(/etc/docker/certs.d/HOST:PORT/ca.crt and the like, also client.cert and client.key for mutual
TLS), SSL_CERT_FILE, or the system roots.

On success the last line on stdout is the pushed reference with its digest: REF@sha256:...`
	pushExample = `  # Push an OCI layout, reading the password from stdin
  printf '%s' "$GITEA_PASSWORD" | idpbuilder push oci:./my-layout:v1 --password-stdin --insecure

  # Push a docker save tarball (to .../giteaadmin/app:v1, named after its RepoTag app:v1)
  docker save app:v1 -o app.tar && idpbuilder push docker-archive:app.tar

  # Push only the arm64 image of a multi-platform OCI archive
  idpbuilder push oci-archive:images.tar:v2 --platform linux/arm64

  # Build with Buildah, then push to gitea.cnoe.localtest.me:8443/giteaadmin/app:1
  idpbuilder push --build -f Dockerfile --context . localhost/app:1 --password-stdin`

	registryUsage    = "Registry HOST[:PORT] to push to"
	ownerUsage       = "Owner (user or organization) of the image in the registry; lowercased, as Gitea requires"
	destUsage        = "Full destination HOST[:PORT]/OWNER/NAME[:TAG]; replaces --registry, --owner and the name and tag from IMAGE"
	buildUsage       = "Build IMAGE with Buildah from --file and --context first, then push it"
	fileUsage        = "Dockerfile for --build (default CONTEXT/Dockerfile)"
	contextUsage     = "Build context directory for --build"
	quietUsage       = "Show no progress and no warnings; print only the result"
	outputUsage      = "Output format: text (REF@DIGEST) or json ({\"reference\",\"digest\",\"bytes\"})"
	concurrencyUsage = "Blobs uploaded at once (0: the library's default)"
	platformUsage    = "Push only this platform's image (os/arch[/variant], e.g. linux/arm64) of a multi-platform IMAGE; for a single image, check it is this platform"
	keepUncompUsage  = "Push the layers of a docker archive as stored (uncompressed tars) instead of gzip-compressing them"
)

// Deps are what the command works with; tests replace them with fakes.
type Deps struct {
	// Registry pushes images. If it also implements types.ResultPusher the command reports
	// the bytes sent; otherwise it reports the image's digest and 0 bytes.
	Registry types.Registry
	// Builder builds images and finds them in local storage; nil disables --build and
	// Buildah images.
	Builder types.Builder
	// OpenLayout opens an OCI layout source ("oci:DIR[:TAG]", DIR or DIR:TAG), as parsed.
	OpenLayout func(source.Spec) (types.Image, error)
	// OpenArchive opens an archive source ("oci-archive:FILE[:TAG]",
	// "docker-archive:FILE[:NAME:TAG]", or a tar file FILE[:TAG] / FILE[:NAME:TAG]), as parsed.
	OpenArchive func(source.Spec) (types.Image, error)
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// IsTerminal says whether w is a terminal (progress bars) or not (plain lines).
	IsTerminal func(w io.Writer) bool
	// Logger logs debug details; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultDeps uses the Rust push library, package source for layouts and archives, Buildah
// (configured from STORAGE_DRIVER and BUILDAH_ISOLATION) and the process environment.
func DefaultDeps() Deps {
	return Deps{
		Registry:    &registry.Client{},
		Builder:     buildah.New(),
		OpenLayout:  openLocal,
		OpenArchive: openLocal,
		Getenv:      os.Getenv,
		IsTerminal:  isTerminal,
	}
}

// PushCmd is `idpbuilder push` with the default dependencies.
var PushCmd = NewPushCmd(DefaultDeps())

// flags are the command's flag values.
type flags struct {
	registry, owner, dest string
	access                cmdutil.Access
	build                 bool
	file, contextDir      string
	quiet                 bool
	output                string
	concurrency           int
	platform              string
	keepUncompressed      bool
}

// NewPushCmd returns a push command using deps.
func NewPushCmd(deps Deps) *cobra.Command {
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	if deps.IsTerminal == nil {
		deps.IsTerminal = isTerminal
	}
	if deps.OpenLayout == nil {
		deps.OpenLayout = openLocal
	}
	if deps.OpenArchive == nil {
		deps.OpenArchive = openLocal
	}
	f := &flags{}
	cmd := &cobra.Command{
		Use:           pushUse,
		Short:         pushShort,
		Long:          pushLong,
		Example:       pushExample,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdutil.OneLine(run(cmd, deps, f, args[0]))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.registry, "registry", DefaultRegistry, registryUsage)
	fl.StringVar(&f.owner, "owner", DefaultOwner, ownerUsage)
	fl.StringVar(&f.dest, "dest", "", destUsage)
	f.access.AddFlags(cmd)
	fl.BoolVar(&f.build, "build", false, buildUsage)
	fl.StringVarP(&f.file, "file", "f", "", fileUsage)
	fl.StringVar(&f.contextDir, "context", ".", contextUsage)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, quietUsage)
	fl.StringVarP(&f.output, "output", "o", "text", outputUsage)
	fl.IntVar(&f.concurrency, "concurrency", 0, concurrencyUsage)
	fl.StringVar(&f.platform, "platform", "", platformUsage)
	fl.BoolVar(&f.keepUncompressed, "keep-uncompressed", false, keepUncompUsage)
	return cmd
}

// Execute runs root with ctx and prints an error as one line
// "Error: <message>" on stderr (once: the command itself prints nothing). It returns the exit
// code, 0 or 1.
func Execute(ctx context.Context, root *cobra.Command) int {
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(root.ErrOrStderr(), "Error:", cmdutil.OneLine(err))
		return 1
	}
	return 0
}

func run(cmd *cobra.Command, deps Deps, f *flags, image string) (err error) {
	ctx, log := cmdutil.ContextAndLogger(cmd, deps.Logger)
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	changed := cmd.Flags().Changed

	// Check the flags before touching stdin, storage or the network.
	switch f.output {
	case "text", "json":
	default:
		return fmt.Errorf("--output %q: use text or json", f.output)
	}
	if f.dest != "" && (changed("registry") || changed("owner")) {
		return errors.New("--dest sets the whole destination; do not combine it with --registry or --owner")
	}
	if !f.build && (changed("file") || changed("context")) {
		return errors.New("--file and --context need --build")
	}
	if f.concurrency < 0 {
		return fmt.Errorf("--concurrency %d: must be 0 or more", f.concurrency)
	}
	if err := checkPlatform(f.platform); err != nil {
		return err
	}
	if f.registry == "" || strings.Contains(f.registry, "/") {
		return fmt.Errorf("--registry %q: want HOST[:PORT]", f.registry)
	}
	if f.owner == "" || strings.Contains(f.owner, "/") {
		return fmt.Errorf("--owner %q: want a single path component", f.owner)
	}
	if deps.Registry == nil {
		return errors.New("no registry client configured")
	}
	tlsOptions, creds, err := f.access.Resolve(cmd, deps.Getenv)
	if err != nil {
		return err
	}
	registryHost := f.registry
	if f.dest != "" {
		registryHost = cmdutil.RegistryOf(f.dest)
	}
	if !f.quiet {
		cmdutil.Warn(stderr, creds.Warnings...)
		cmdutil.Warn(stderr, tlsOptions.Warning(registryHost))
	}
	if creds.Explicit() {
		log.Debug("registry credentials", "username", creds.Credentials.Username,
			"usernameFrom", creds.UsernameFrom, "passwordFrom", creds.PasswordFrom)
	} else {
		log.Debug("registry credentials: none given; the push library looks them up in the docker config, " +
			"credential helpers and containers auth file, else pushes anonymously")
	}

	spec, img, err := resolveImage(ctx, deps, f, image, stderr)
	if err != nil {
		return err
	}
	if c, ok := img.(io.Closer); ok {
		defer func() {
			if cerr := c.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("cleaning up: %w", cerr)
			}
		}()
	}

	dest := f.dest
	if dest == "" {
		name, tag := nameAndTag(spec, img)
		dest = f.registry + "/" + strings.ToLower(f.owner) + "/" + name + ":" + tag
	}
	digest := img.Digest()
	if digest == "" {
		digest = "made by the push"
	}
	log.Debug("pushing", "image", image, "kind", spec.Kind.String(), "sourceDigest", digest, "destination", dest,
		"platform", f.platform, "keepUncompressed", f.keepUncompressed)

	opts := types.PushOptions{
		Credentials:      creds.Credentials,
		TLS:              tlsOptions,
		Concurrency:      f.concurrency,
		Platform:         f.platform,
		KeepUncompressed: f.keepUncompressed,
		Timeout:          f.access.Timeout(),
	}
	var view *progressView
	if !f.quiet {
		var r renderer = lineRenderer{w: stderr}
		if deps.IsTerminal(stderr) {
			r = newBarRenderer(stderr)
		}
		view = startProgress(r)
		opts.Progress = view.Event
	}

	var result types.PushResult
	if rp, ok := deps.Registry.(types.ResultPusher); ok {
		result, err = rp.PushImage(ctx, img, dest, opts)
	} else {
		err = deps.Registry.Push(ctx, img, dest, opts)
		// The image's digest is what went up only when no platform was chosen from it; it is
		// "" when the push made the manifest (a classic docker archive).
		result = types.PushResult{Reference: dest}
		if f.platform == "" {
			result.Digest = img.Digest()
		}
	}
	if view != nil {
		view.Stop(err == nil)
	}
	if err != nil {
		return cmdutil.ExplainUnauthorized(err, creds, registryHost)
	}
	if result.Reference == "" {
		result.Reference = dest
	}

	if f.output == "json" {
		out, err := json.Marshal(struct {
			Reference string `json:"reference"`
			Digest    string `json:"digest"`
			Bytes     uint64 `json:"bytes"`
		}{result.Reference, result.Digest, result.BytesSent})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	_, err = fmt.Fprintln(stdout, result.Pinned())
	return err
}

// openLocal opens a layout or archive IMAGE (the default OpenLayout and OpenArchive).
func openLocal(spec source.Spec) (types.Image, error) {
	img, err := spec.Open()
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return img, nil
}

// resolveImage is the one place that maps IMAGE to an image: source.Parse says which kind of
// source it names, and each kind has its opener. With --build, IMAGE names the built image.
func resolveImage(ctx context.Context, deps Deps, f *flags, image string, stderr io.Writer) (source.Spec, types.Image, error) {
	if f.build {
		spec := source.Spec{Input: image, Kind: source.Storage, Ref: image}
		if deps.Builder == nil {
			return spec, nil, errors.New("--build: no image builder available")
		}
		if t, _, ok := strings.Cut(image, ":"); ok && isTransport(t) {
			return spec, nil, fmt.Errorf("--build: IMAGE is the name for the built image (like localhost/app:1), not %s:", t)
		}
		dockerfile := f.file
		if dockerfile == "" {
			dockerfile = filepath.Join(f.contextDir, "Dockerfile")
		}
		img, err := deps.Builder.Build(ctx, dockerfile, f.contextDir, types.BuildOptions{
			Tag: image, Quiet: f.quiet, Output: stderr,
		})
		return spec, img, err
	}
	spec, err := source.Parse(image)
	if err != nil {
		return spec, nil, err
	}
	var img types.Image
	switch spec.Kind {
	case source.Layout:
		img, err = deps.OpenLayout(spec)
	case source.OCIArchive, source.DockerArchive, source.Archive:
		img, err = deps.OpenArchive(spec)
	case source.Storage:
		if deps.Builder == nil {
			return spec, nil, fmt.Errorf("%s is not an OCI layout or an image archive, and no image store is available", spec.Ref)
		}
		img, err = deps.Builder.GetImage(ctx, spec.Ref)
	default:
		err = fmt.Errorf("%s: unknown kind of source %v", image, spec.Kind)
	}
	return spec, img, err
}

// isTransport reports whether t is a transport prefix of the containers/image family.
func isTransport(t string) bool {
	switch t {
	case "oci", "oci-archive", "docker-archive", "containers-storage", "docker", "docker-daemon", "dir":
		return true
	}
	return false
}

// nameAndTag derives the default destination's image name (lowercased, as Gitea requires)
// and tag from the source and the opened image:
//
//   - layout: the directory's name; TAG, else the layout's ref name;
//   - oci-archive: the file's name without .tar; TAG, else the archive's ref name (when it
//     holds one image);
//   - docker-archive: NAME:TAG as asked for, else the image's RepoTag as the library reports
//     it (the archive's single RepoTag), last path component of NAME, no TAG is latest; else
//     the file's name without .tar;
//   - a tar file without transport: as the kind it turned out to be;
//   - a Buildah image: the last path component of its name, and its tag.
//
// The tag is "latest" when none of these gives one.
func nameAndTag(spec source.Spec, img types.Image) (name, tag string) {
	switch spec.Kind {
	case source.Layout, source.OCIArchive:
		name, tag = spec.BaseName(), spec.Ref
	case source.DockerArchive, source.Archive:
		named, _ := img.(types.NamedImage)
		switch {
		case spec.Kind == source.DockerArchive && spec.Ref != "":
			name, tag = repoName(spec.Ref)
		case named != nil && named.RepoTag() != "":
			// The library's RepoTag: for a detected docker archive, the NAME[:TAG] asked
			// for, else the archive's only RepoTag.
			name, tag = repoName(named.RepoTag())
		default:
			name = spec.BaseName()
		}
	default:
		name, tag = repoName(spec.Ref)
	}
	if tag == "" {
		tag = tagOf(img.Tag())
	}
	if tag == "" {
		tag = DefaultTag
	}
	return strings.ToLower(name), tag
}

// repoName splits an image reference ([host[:port]/]path/name[:tag][@digest]) into the last
// path component of its name and its tag.
func repoName(ref string) (name, tag string) {
	repo, tag := source.SplitRepoTag(ref)
	return path.Base(repo), tag
}

// tagOf is the tag an image's ref name gives: the name itself, or the tag part of a full
// reference ("docker.io/library/app:v1", as some tools write ref names).
func tagOf(refName string) string {
	if strings.ContainsAny(refName, "/:@") {
		_, tag := source.SplitRepoTag(refName)
		return tag
	}
	return refName
}

// checkPlatform checks --platform: os/arch[/variant], each part letters, digits, '.', '-' or
// '_' (as the push library accepts it).
func checkPlatform(p string) error {
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	ok := len(parts) == 2 || len(parts) == 3
	for _, part := range parts {
		if part == "" || strings.IndexFunc(part, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		}) >= 0 {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("--platform %q: want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7", p)
	}
	return nil
}

// isTerminal says whether w is a terminal that can show progress bars: a TTY with a known,
// non-zero width (a pseudo-terminal without a size would show nothing).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err == nil && width > 0
}
