// Package source is the one place that maps an IMAGE argument to where the image is stored,
// and opens the images the push library reads directly:
//
//	oci:DIR[:TAG]                    an OCI layout directory (also a bare DIR or DIR:TAG)
//	oci-archive:FILE[:TAG]           a tar of an OCI layout, read in place
//	docker-archive:FILE[:NAME:TAG]   docker save / podman save output, read in place
//	FILE, FILE:TAG, FILE:NAME:TAG    a tar file named without a transport: its content says
//	                                 which archive it is (manifest.json: docker, oci-layout: OCI)
//	containers-storage:NAME          an image in local container (Buildah) storage; so is any
//	                                 other IMAGE that names no existing file or directory
//
// The forms are split as the push library splits them: an existing path is taken whole (its
// name may hold ':'); otherwise TAG is after the last ':' (when no '/' follows it), and for
// docker archives FILE ends at the first ':' that ends an existing file (NAME may hold a
// registry port). Other transports (docker:, docker-daemon:, dir:) are refused.
//
// A new source form is added here: a Kind, its case in Parse, and its case in Open.
package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Kind is where an image is stored.
type Kind int

// Source kinds.
const (
	// Layout is an OCI layout directory; Ref is the TAG.
	Layout Kind = iota + 1
	// OCIArchive is a tar of an OCI layout; Ref is the TAG.
	OCIArchive
	// DockerArchive is a docker save / podman save tar; Ref is NAME[:TAG].
	DockerArchive
	// Archive is a tar file named without a transport, whose content tells its kind; Ref is a
	// TAG (OCI archive) or NAME:TAG (docker archive).
	Archive
	// Storage is an image in local container storage (Buildah); Ref is its name.
	Storage
)

func (k Kind) String() string {
	switch k {
	case Layout:
		return "oci"
	case OCIArchive:
		return "oci-archive"
	case DockerArchive:
		return "docker-archive"
	case Archive:
		return "archive"
	case Storage:
		return "containers-storage"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Spec is a parsed IMAGE argument.
type Spec struct {
	// Input is the IMAGE argument as given.
	Input string
	Kind  Kind
	// Path is the layout directory or the archive file ("" for Storage).
	Path string
	// Ref chooses the image in its store: see the Kind constants ("" for none).
	Ref string
}

// Forms lists the accepted forms, for error messages.
const Forms = "oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], a layout directory, " +
	"a tar file, or an image name in local Buildah storage"

// unsupported are transports of the containers/image family this command does not read.
var unsupported = []string{"docker", "docker-daemon", "dir", "ostree", "sif", "tarball"}

// Parse maps an IMAGE argument to its Spec. It looks at the file system (as the push library
// does) but reads no file.
func Parse(image string) (Spec, error) {
	s := Spec{Input: image}
	if image == "" {
		return s, invalidArgument("the image is empty; use " + Forms)
	}
	if rest, ok := strings.CutPrefix(image, "oci:"); ok {
		s.Kind = Layout
		s.Path, s.Ref = splitLast(rest)
		return s, nonEmpty(s)
	}
	if rest, ok := strings.CutPrefix(image, "oci-archive:"); ok {
		s.Kind = OCIArchive
		s.Path, s.Ref = splitLast(rest)
		return s, nonEmpty(s)
	}
	if rest, ok := strings.CutPrefix(image, "docker-archive:"); ok {
		s.Kind = DockerArchive
		s.Path, s.Ref = splitFirstFile(rest)
		return s, nonEmpty(s)
	}
	if rest, ok := strings.CutPrefix(image, "containers-storage:"); ok {
		s.Kind, s.Ref = Storage, rest
		if rest == "" {
			return s, invalidArgument("containers-storage: names no image")
		}
		return s, nil
	}
	if t, _, ok := strings.Cut(image, ":"); ok {
		for _, u := range unsupported {
			if t == u {
				return s, invalidArgument(fmt.Sprintf("%s: the %s: transport is not supported; use %s", image, t, Forms))
			}
		}
	}
	if st, err := os.Stat(image); err == nil {
		switch {
		case st.IsDir():
			s.Kind, s.Path = Layout, image
			return s, nil
		case st.Mode().IsRegular():
			s.Kind, s.Path = Archive, image
			return s, nil
		}
	}
	// PATH:REST: a layout directory with a tag, or an archive with a tag or NAME:TAG. A
	// directory must hold a layout, so that image names are not taken for directories.
	if dir, tag := splitLast(image); tag != "" && isLayout(dir) {
		s.Kind, s.Path, s.Ref = Layout, dir, tag
		return s, nil
	}
	if file, rest := splitFirstFile(image); rest != "" && isFile(file) {
		s.Kind, s.Path, s.Ref = Archive, file, rest
		return s, nil
	}
	s.Kind, s.Ref = Storage, image
	return s, nil
}

// Open parses image and opens it; see Spec.Open.
func Open(image string) (*Image, error) {
	s, err := Parse(image)
	if err != nil {
		return nil, err
	}
	return s.Open()
}

// splitLast splits PATH:TAG at the last ':' whose tail holds no '/', unless the whole string
// is an existing path.
func splitLast(s string) (p, tag string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// splitFirstFile splits FILE:NAME:TAG, where NAME may hold ':' (a registry port): FILE is the
// shortest prefix ending before a ':' that is an existing file; failing that, everything
// before the first ':'.
func splitFirstFile(s string) (file, rest string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && i > 0 && isFile(s[:i]) {
			return s[:i], s[i+1:]
		}
	}
	if f, r, ok := strings.Cut(s, ":"); ok && f != "" && r != "" {
		return f, r
	}
	return s, ""
}

// isLayout reports whether dir holds an OCI image layout (an oci-layout or index.json file).
func isLayout(dir string) bool {
	for _, f := range []string{"oci-layout", "index.json"} {
		if isFile(filepath.Join(dir, f)) {
			return true
		}
	}
	return false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func nonEmpty(s Spec) error {
	if s.Path != "" {
		return nil
	}
	what := "file"
	if s.Kind == Layout {
		what = "directory"
	}
	return invalidArgument(fmt.Sprintf("%s names no %s; use %s", s.Input, what, Forms))
}

func invalidArgument(msg string) error {
	return &types.Error{Code: types.StatusInvalidArgument, Message: msg}
}

// BaseName is the image name a layout directory or archive file gives: the base name of the
// path (of the absolute path for "." and the like), without ".tar" for archives. It is not
// lowercased.
func (s Spec) BaseName() string {
	p := s.Path
	if b := filepath.Base(filepath.Clean(p)); b == "." || b == ".." || b == string(filepath.Separator) {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
	}
	b := filepath.Base(filepath.Clean(p))
	if s.Kind != Layout && len(b) > len(".tar") && strings.EqualFold(b[len(b)-len(".tar"):], ".tar") {
		b = b[:len(b)-len(".tar")]
	}
	return b
}
