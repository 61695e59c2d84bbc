package source

import (
	"fmt"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/internal/cidp"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Image is an image in an OCI layout, an OCI archive or a docker archive, as the push library
// reads it: Open asks the library (idp_inspect), which checks every manifest and tar header
// as a push does, so nothing here parses layouts or archives. It implements types.LocalImage
// and types.NamedImage.
type Image struct {
	spec Spec
	kind Kind // Layout, OCIArchive or DockerArchive: what the library found
	in   cidp.Inspection
}

var (
	_ types.LocalImage = (*Image)(nil)
	_ types.NamedImage = (*Image)(nil)
)

// Open opens a layout or archive image. Images in container storage are not opened here (see
// package buildah): Open fails for them with StatusInvalidSource.
func (s Spec) Open() (*Image, error) {
	var found Kind
	switch s.Kind {
	case Layout, OCIArchive, DockerArchive, Archive:
	default:
		return nil, &types.Error{Code: types.StatusInvalidSource,
			Message: fmt.Sprintf("%s is not an OCI layout or an image archive; use %s", s.Input, Forms)}
	}
	in, err := cidp.Inspect(s.librarySource(s.Kind), cidp.Options{})
	if err != nil {
		return nil, err
	}
	switch in.Kind {
	case cidp.KindLayout:
		found = Layout
	case cidp.KindOCIArchive:
		found = OCIArchive
	case cidp.KindDockerArchive:
		found = DockerArchive
	default:
		return nil, &types.Error{Code: types.StatusInternal, Message: fmt.Sprintf("%s: unknown source kind %d", s.Input, in.Kind)}
	}
	return &Image{spec: s, kind: found, in: in}, nil
}

// librarySource is the push library's source string for s read as kind.
func (s Spec) librarySource(kind Kind) string {
	var prefix string
	switch kind {
	case Layout:
		prefix = "oci:"
	case OCIArchive:
		prefix = "oci-archive:"
	case DockerArchive:
		prefix = "docker-archive:"
	}
	src := prefix + s.Path
	if s.Ref != "" {
		src += ":" + s.Ref
	}
	return src
}

// Source is the push library's source string for this image, with the kind found spelled out
// ("oci:DIR[:TAG]", "oci-archive:FILE[:TAG]", "docker-archive:FILE[:NAME:TAG]").
func (i *Image) Source() string { return i.spec.librarySource(i.kind) }

// Kind is what the source turned out to be: Layout, OCIArchive or DockerArchive.
func (i *Image) Kind() Kind { return i.kind }

// Path is the layout directory or the archive file.
func (i *Image) Path() string { return i.spec.Path }

// Digest is the digest of the manifest (or index) a push of the source sends under the tag
// without PushOptions.Platform (which sends one child of an index) or KeepUncompressed. It is
// "" for a classic docker archive, whose manifest the push makes while it compresses the layers (the
// push's result carries that digest).
func (i *Image) Digest() string { return i.in.Digest }

// MediaType is the media type of that manifest ("" when Digest is).
func (i *Image) MediaType() string { return i.in.MediaType }

// Manifest is that manifest (or index), as the library read and verified it.
// For a classic docker archive it fails with an error wrapping types.ErrManifestNotStored.
func (i *Image) Manifest() ([]byte, error) {
	if i.in.Manifest == nil {
		return nil, fmt.Errorf("docker archive %s holds no registry manifest (classic form): %w", i.spec.Path, types.ErrManifestNotStored)
	}
	return append([]byte(nil), i.in.Manifest...), nil
}

// RepoTag is, for a docker archive, the image's name in docker's short form ("app:v1"): the
// NAME[:TAG] asked for, else the image's RepoTag when it has exactly one; "" otherwise, and
// for OCI layouts and archives.
func (i *Image) RepoTag() string { return i.in.RepoTag }

// Tag is, for a docker archive, the tag part of RepoTag; otherwise the tag asked for, else the
// image's ref name in the layout ("" when none).
func (i *Image) Tag() string {
	if i.kind == DockerArchive {
		_, tag := SplitRepoTag(i.in.RepoTag)
		return tag
	}
	if i.spec.Ref != "" {
		return i.spec.Ref
	}
	return i.in.RefName
}

// SplitRepoTag splits "[host[:port]/]path[:tag][@digest]" into the repository and the tag
// ("" when there is none).
func SplitRepoTag(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i+1:], "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
