// Package archive opens images stored in tar archives, read in place as the push library
// reads them:
//
//   - oci-archive: a tar of an OCI image layout (skopeo, buildah, `docker buildx --output
//     type=oci`), "oci-archive:FILE[:TAG]";
//   - docker-archive: `docker save` / `podman save` / `skopeo copy … docker-archive:` output,
//     both the classic form (manifest.json, <id>.json config, layer tars) and the docker 25+
//     form that carries an OCI layout next to manifest.json,
//     "docker-archive:FILE[:NAME:TAG]".
//
// Only the small metadata files are read here (manifest.json, index.json, manifests), to
// choose the image, name it and report its digest; nothing is extracted. The push library
// streams the blobs from their offsets in the tar and refuses unsafe archives (names with
// "..", absolute names, links leading outside, truncated or corrupted files) before it sends
// anything. Compressed archives (.tar.gz and the like) are refused with a message saying to
// decompress them: a blob inside a compressed stream cannot be read in place.
package archive

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Kind is the kind of an image archive.
type Kind int

// Archive kinds.
const (
	Unknown Kind = iota
	OCI          // a tar of an OCI layout (oci-layout, index.json, blobs/)
	Docker       // docker save / podman save (manifest.json)
)

func (k Kind) String() string {
	switch k {
	case OCI:
		return "oci-archive"
	case Docker:
		return "docker-archive"
	}
	return "unknown archive"
}

// Image is an image in an archive: an *OCIImage or a *DockerImage.
type Image interface {
	types.LocalImage
	// File is the archive's path.
	File() string
	// Kind says which kind of archive it is.
	Kind() Kind
}

var (
	_ Image            = (*OCIImage)(nil)
	_ Image            = (*DockerImage)(nil)
	_ types.NamedImage = (*DockerImage)(nil)
)

// Open opens the tar archive at file, telling its kind by its content as the push library
// does: a manifest.json makes it a docker archive (also in the docker 25+ form, which holds
// an OCI layout too), an oci-layout file an OCI archive. rest chooses the image: a TAG for an
// OCI archive, NAME[:TAG] for a docker archive; "" takes the only one.
func Open(file, rest string) (Image, error) {
	ix, err := indexTar(file)
	if err != nil {
		return nil, err
	}
	switch {
	case ix.has("manifest.json"):
		return openDocker(ix, rest)
	case ix.has("oci-layout"):
		return openOCI(ix, rest)
	}
	return nil, invalid("%s is a tar archive, but neither an OCI archive (no oci-layout) nor a docker "+
		"archive (no manifest.json)", file)
}

// BaseName is the name an archive file gives an image: its base name without ".tar".
func BaseName(file string) string {
	b := filepath.Base(filepath.Clean(file))
	if len(b) > len(".tar") && strings.EqualFold(b[len(b)-len(".tar"):], ".tar") {
		b = b[:len(b)-len(".tar")]
	}
	return b
}

// missing says why name could not be read from an archive.
func missing(name string, err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "it has no " + name
	}
	return "cannot read its " + name + ": " + err.Error()
}

func invalid(format string, args ...any) error {
	return types.Errorf(types.StatusInvalidSource, format, args...)
}
