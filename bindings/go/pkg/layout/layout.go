// Package layout reads images from OCI image layout directories ("oci:DIR[:TAG]" or a bare
// directory), the source format the push library reads.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// RefNameAnnotation names an image inside a layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// maxManifestSize bounds index.json and manifests, as the registry side does (10 MiB).
const maxManifestSize = 10 << 20

// Image is one image (manifest or index) of an OCI layout. It implements types.LocalImage.
type Image struct {
	dir       string
	tag       string // the tag asked for ("" when none was)
	refName   string // the chosen entry's ref name ("" when it has none)
	digest    string
	size      int64
	mediaType string
}

var _ types.LocalImage = (*Image)(nil)

// ParseSource splits "oci:DIR[:TAG]" or "DIR[:TAG]" as the push library does: an existing
// directory is taken whole (its name may hold ':'); otherwise the part after the last ':' is
// the tag, unless it holds a '/'.
func ParseSource(source string) (dir, tag string) {
	s := strings.TrimPrefix(source, "oci:")
	if st, err := os.Stat(s); err == nil && st.IsDir() {
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// IsLayout reports whether dir holds an OCI image layout (an oci-layout or index.json file).
func IsLayout(dir string) bool {
	for _, f := range []string{"oci-layout", "index.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Open opens the image named by source ("oci:DIR[:TAG]" or a layout directory). Without a tag
// the layout must hold exactly one image.
func Open(source string) (*Image, error) {
	dir, tag := ParseSource(source)
	if dir == "" {
		return nil, invalid("the source %q names no directory; write oci:DIR[:TAG]", source)
	}
	return OpenDir(dir, tag)
}

// OpenDir opens the image tagged tag in the layout directory dir; without a tag the layout
// must hold exactly one image.
func OpenDir(dir, tag string) (*Image, error) {
	raw, err := readSmall(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, invalid("cannot read OCI layout %s: %v", dir, err)
	}
	chosen, err := Choose(raw, tag, "OCI layout "+dir, "oci:"+dir)
	if err != nil {
		return nil, err
	}
	return &Image{
		dir:       dir,
		tag:       tag,
		refName:   chosen.Annotations[RefNameAnnotation],
		digest:    chosen.Digest,
		size:      chosen.Size,
		mediaType: chosen.MediaType,
	}, nil
}

// Choose picks from an index.json the image whose ref name is tag, or the only image when tag
// is "". what names the layout in errors ("OCI layout DIR"), retry the source form that
// chooses by tag ("oci:DIR", to which ":TAG" is added).
func Choose(indexJSON []byte, tag, what, retry string) (Descriptor, error) {
	var index struct {
		Manifests []Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return Descriptor{}, invalid("%s: index.json is not valid JSON: %v", what, err)
	}
	var tags []string
	for _, d := range index.Manifests {
		if n := d.Annotations[RefNameAnnotation]; n != "" {
			tags = append(tags, n)
		}
	}
	var chosen *Descriptor
	switch {
	case tag != "":
		for i := range index.Manifests {
			if index.Manifests[i].Annotations[RefNameAnnotation] == tag {
				chosen = &index.Manifests[i]
				break
			}
		}
		if chosen == nil {
			return Descriptor{}, invalid("%s has no image tagged %q (tags: %s)", what, tag, list(tags))
		}
	case len(index.Manifests) == 1:
		chosen = &index.Manifests[0]
	case len(index.Manifests) == 0:
		return Descriptor{}, invalid("%s holds no image", what)
	default:
		return Descriptor{}, invalid("%s holds %d images; choose one with %s:TAG (tags: %s)",
			what, len(index.Manifests), retry, list(tags))
	}
	if err := checkDigest(chosen.Digest); err != nil {
		return Descriptor{}, invalid("%s: index.json: %v", what, err)
	}
	return *chosen, nil
}

// Digest is the digest of the image's manifest (or index).
func (i *Image) Digest() string { return i.digest }

// Tag is the tag asked for, or else the image's ref name in the layout ("" if none).
func (i *Image) Tag() string {
	if i.tag != "" {
		return i.tag
	}
	return i.refName
}

// MediaType is the media type of the manifest as index.json records it.
func (i *Image) MediaType() string { return i.mediaType }

// Dir is the layout directory.
func (i *Image) Dir() string { return i.dir }

// Source is the push library's source string for this image.
func (i *Image) Source() string {
	if i.tag != "" {
		return "oci:" + i.dir + ":" + i.tag
	}
	return "oci:" + i.dir
}

// Manifest reads the manifest blob and checks its size and digest.
func (i *Image) Manifest() ([]byte, error) {
	path := filepath.Join(i.dir, "blobs", "sha256", strings.TrimPrefix(i.digest, "sha256:"))
	b, err := readSmall(path)
	if err != nil {
		return nil, invalid("cannot read manifest %s: %v", i.digest, err)
	}
	d := Descriptor{Digest: i.digest, Size: i.size}
	if err := d.Verify(b, "manifest"); err != nil {
		return nil, err
	}
	return b, nil
}

// Descriptor is an entry of an OCI index (index.json or an image index).
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Verify checks b against the descriptor's size (when it gives one) and digest; what names b
// in errors ("manifest"). Errors are *types.Error with StatusDigestMismatch.
func (d Descriptor) Verify(b []byte, what string) error {
	if d.Size > 0 && int64(len(b)) != d.Size {
		return &types.Error{Code: types.StatusDigestMismatch,
			Message: fmt.Sprintf("%s %s is %d bytes, its descriptor says %d", what, d.Digest, len(b), d.Size)}
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != d.Digest {
		return &types.Error{Code: types.StatusDigestMismatch,
			Message: fmt.Sprintf("%s %s has digest %s", what, d.Digest, got)}
	}
	return nil
}

// CheckDigest checks that d is "sha256:<64 lowercase hex>".
func CheckDigest(d string) error { return checkDigest(d) }

func checkDigest(d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("unsupported digest %q (want sha256:<64 hex>)", d)
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return fmt.Errorf("malformed digest %q", d)
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxManifestSize)
	}
	return b, nil
}

func list(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func invalid(format string, args ...any) error {
	return types.Errorf(types.StatusInvalidSource, format, args...)
}
