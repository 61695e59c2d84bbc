// Package push is the `idpbuilder push` Cobra command: it pushes a local image (an OCI layout
// or an image in Buildah storage, optionally built first) to IDPBuilder's Gitea registry or
// any OCI registry, through the Rust push library.
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

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/buildah"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/cmd/internal/cmdutil"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/layout"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/registry"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Defaults: IDPBuilder's Gitea and its admin user's namespace.
const (
	DefaultRegistry = "gitea.cnoe.localtest.me:8443"
	DefaultOwner    = "giteaadmin"
	DefaultTag      = "latest"
)

const (
	pushUse   = "push [flags] IMAGE"
	pushShort = "Push a local image to IDPBuilder's Gitea registry"
	pushLong  = `Push a local image to IDPBuilder's Gitea container registry (or any OCI registry).

IMAGE is an OCI layout (oci:DIR[:TAG] or a directory holding one) or the name of an image in
local Buildah storage (localhost/app:1). With --build, IMAGE is the name to give the image that
Buildah builds from --file and --context before it is pushed.

The destination defaults to gitea.cnoe.localtest.me:8443/giteaadmin/NAME:TAG, with NAME and TAG
taken from IMAGE (TAG is "latest" when IMAGE has none). --registry and --owner change those
parts; --dest sets the whole reference.

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

  # Build with Buildah, then push to gitea.cnoe.localtest.me:8443/giteaadmin/app:1
  idpbuilder push --build -f Dockerfile --context . localhost/app:1 --password-stdin`

	registryUsage      = "Registry HOST[:PORT] to push to"
	ownerUsage         = "Owner (user or organization) of the image in the registry; lowercased, as Gitea requires"
	destUsage          = "Full destination HOST[:PORT]/OWNER/NAME[:TAG]; replaces --registry, --owner and the name and tag from IMAGE"
	usernameUsage      = "Registry user name (default $IDPBUILDER_REGISTRY_USERNAME, else giteaAdmin when a password is given)"
	passwordUsage      = "Registry password or token; insecure on the command line, prefer --password-stdin or $IDPBUILDER_REGISTRY_PASSWORD"
	passwordStdinUsage = "Read the registry password from stdin"
	insecureUsage      = "Skip TLS certificate verification (for example Gitea's self-signed certificate)"
	caFileUsage        = "PEM file with CA certificates to trust (for example IDPBuilder's idpbuilder-cert ca.crt)"
	plainHTTPUsage     = "Talk to the registry over plain HTTP"
	buildUsage         = "Build IMAGE with Buildah from --file and --context first, then push it"
	fileUsage          = "Dockerfile for --build (default CONTEXT/Dockerfile)"
	contextUsage       = "Build context directory for --build"
	quietUsage         = "Show no progress and no warnings; print only the result"
	outputUsage        = "Output format: text (REF@DIGEST) or json ({\"reference\",\"digest\",\"bytes\"})"
	concurrencyUsage   = "Blobs uploaded at once (0: the library's default)"
)

// Deps are what the command works with; tests replace them with fakes.
type Deps struct {
	// Registry pushes images. If it also implements types.ResultPusher the command reports
	// the bytes sent; otherwise it reports the image's digest and 0 bytes.
	Registry types.Registry
	// Builder builds images and finds them in local storage; nil disables --build and
	// Buildah images.
	Builder types.Builder
	// OpenLayout opens an OCI layout source ("oci:DIR[:TAG]" or a directory).
	OpenLayout func(source string) (types.Image, error)
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// IsTerminal says whether w is a terminal (progress bars) or not (plain lines).
	IsTerminal func(w io.Writer) bool
	// Logger logs debug details; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultDeps uses the Rust push library, Buildah (configured from STORAGE_DRIVER and
// BUILDAH_ISOLATION) and the process environment.
func DefaultDeps() Deps {
	return Deps{
		Registry:   &registry.Client{},
		Builder:    buildah.New(),
		OpenLayout: func(s string) (types.Image, error) { return layout.Open(s) },
		Getenv:     os.Getenv,
		IsTerminal: isTerminal,
	}
}

// PushCmd is `idpbuilder push` with the default dependencies.
var PushCmd = NewPushCmd(DefaultDeps())

// flags are the command's flag values.
type flags struct {
	registry, owner, dest string
	username, password    string
	passwordStdin         bool
	insecure, plainHTTP   bool
	caFile                string
	build                 bool
	file, contextDir      string
	quiet                 bool
	output                string
	concurrency           int
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
		deps.OpenLayout = func(s string) (types.Image, error) { return layout.Open(s) }
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
	fl.StringVarP(&f.username, "username", "u", "", usernameUsage)
	fl.StringVarP(&f.password, "password", "p", "", passwordUsage)
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, passwordStdinUsage)
	fl.BoolVar(&f.insecure, "insecure", false, insecureUsage)
	fl.StringVar(&f.caFile, "ca-file", "", caFileUsage)
	fl.BoolVar(&f.plainHTTP, "plain-http", false, plainHTTPUsage)
	fl.BoolVar(&f.build, "build", false, buildUsage)
	fl.StringVarP(&f.file, "file", "f", "", fileUsage)
	fl.StringVar(&f.contextDir, "context", ".", contextUsage)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, quietUsage)
	fl.StringVarP(&f.output, "output", "o", "text", outputUsage)
	fl.IntVar(&f.concurrency, "concurrency", 0, concurrencyUsage)
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
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
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
	if f.registry == "" || strings.Contains(f.registry, "/") {
		return fmt.Errorf("--registry %q: want HOST[:PORT]", f.registry)
	}
	if f.owner == "" || strings.Contains(f.owner, "/") {
		return fmt.Errorf("--owner %q: want a single path component", f.owner)
	}
	tlsOptions := idptls.Options{CAFile: f.caFile, Insecure: f.insecure, PlainHTTP: f.plainHTTP}
	if err := tlsOptions.Validate(); err != nil {
		return err
	}
	if deps.Registry == nil {
		return errors.New("no registry client configured")
	}

	creds, err := auth.Resolve(auth.Input{
		Username: f.username, UsernameSet: changed("username"),
		Password: f.password, PasswordSet: changed("password"),
		PasswordStdin: f.passwordStdin, Stdin: cmd.InOrStdin(),
		Getenv: deps.Getenv,
	})
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

	img, err := resolveImage(ctx, deps, f, image, stderr)
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
		name, tag := nameAndTag(image, f.build)
		if tag == "" {
			tag = img.Tag()
		}
		if tag == "" {
			tag = DefaultTag
		}
		dest = f.registry + "/" + strings.ToLower(f.owner) + "/" + name + ":" + tag
	}
	log.Debug("pushing", "image", image, "digest", img.Digest(), "destination", dest)

	opts := types.PushOptions{
		Credentials: creds.Credentials,
		TLS:         tlsOptions,
		Concurrency: f.concurrency,
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
		result = types.PushResult{Reference: dest, Digest: img.Digest()}
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

// knownTransports are source prefixes of the containers/image family, mapped to whether this
// command supports them yet (archives come later).
var knownTransports = map[string]bool{
	"oci": true, "containers-storage": true,
	"oci-archive": false, "docker-archive": false, "docker": false, "dir": false, "docker-daemon": false,
}

// transportOf returns the transport prefix of image ("" for none).
func transportOf(image string) string {
	t, _, ok := strings.Cut(image, ":")
	if !ok {
		return ""
	}
	if _, known := knownTransports[t]; known {
		return t
	}
	return ""
}

func resolveImage(ctx context.Context, deps Deps, f *flags, image string, stderr io.Writer) (types.Image, error) {
	if f.build {
		if deps.Builder == nil {
			return nil, errors.New("--build: no image builder available")
		}
		if t := transportOf(image); t != "" {
			return nil, fmt.Errorf("--build: IMAGE is the name for the built image (like localhost/app:1), not %s:", t)
		}
		dockerfile := f.file
		if dockerfile == "" {
			dockerfile = filepath.Join(f.contextDir, "Dockerfile")
		}
		return deps.Builder.Build(ctx, dockerfile, f.contextDir, types.BuildOptions{
			Tag: image, Quiet: f.quiet, Output: stderr,
		})
	}
	switch t := transportOf(image); {
	case t == "oci":
		return deps.OpenLayout(image)
	case t == "containers-storage":
		return getImage(ctx, deps, strings.TrimPrefix(image, "containers-storage:"))
	case t != "" && !knownTransports[t]:
		return nil, fmt.Errorf("%s: the %s: transport is not supported yet; use oci:DIR[:TAG], a layout directory or a Buildah image name", image, t)
	}
	if st, err := os.Stat(image); err == nil && st.IsDir() {
		return deps.OpenLayout(image)
	}
	if dir, tag := layout.ParseSource(image); tag != "" && layout.IsLayout(dir) {
		return deps.OpenLayout(image)
	}
	return getImage(ctx, deps, image)
}

func getImage(ctx context.Context, deps Deps, ref string) (types.Image, error) {
	if deps.Builder == nil {
		return nil, fmt.Errorf("%s is not an OCI layout and no image store is available", ref)
	}
	return deps.Builder.GetImage(ctx, ref)
}

// nameAndTag derives the destination's image name (lowercased, as Gitea requires) and tag
// from IMAGE; the tag is "" when IMAGE has none.
func nameAndTag(image string, built bool) (name, tag string) {
	t := ""
	if !built {
		t = transportOf(image)
	}
	switch {
	case t == "oci" || (t == "" && !built && isLayoutArg(image)):
		dir, tag := layout.ParseSource(image)
		name = filepath.Base(filepath.Clean(dir))
		return strings.ToLower(name), tag
	case t == "containers-storage":
		image = strings.TrimPrefix(image, "containers-storage:")
	}
	// An image reference: [host[:port]/]path/name[:tag][@digest].
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i+1:], "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return strings.ToLower(path.Base(ref)), tag
}

func isLayoutArg(image string) bool {
	if st, err := os.Stat(image); err == nil && st.IsDir() {
		return true
	}
	dir, tag := layout.ParseSource(image)
	return tag != "" && layout.IsLayout(dir)
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
