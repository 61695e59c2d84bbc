package archive

import (
	"github.com/cnoe-io/idp-push/bindings/go/pkg/layout"
)

// OCIImage is one image (manifest or index) of an OCI archive. It implements
// types.LocalImage.
type OCIImage struct {
	ix      *tarIndex
	tag     string // the tag asked for ("" when none was)
	refName string // the chosen entry's ref name ("" when it has none)
	desc    layout.Descriptor
}

// OpenOCI opens the image tagged tag in the OCI archive file (the only image when tag is "").
func OpenOCI(file, tag string) (*OCIImage, error) {
	ix, err := indexTar(file)
	if err != nil {
		return nil, err
	}
	return openOCI(ix, tag)
}

func openOCI(ix *tarIndex, tag string) (*OCIImage, error) {
	file := ix.path
	raw, err := ix.read("index.json", maxSmall)
	if err != nil {
		hint := ""
		if ix.has("manifest.json") {
			hint = "; it is a docker archive: write docker-archive:" + file
		}
		return nil, invalid("%s is not an OCI archive: %s%s", file, missing("index.json", err), hint)
	}
	d, err := layout.Choose(raw, tag, "OCI archive "+file, "oci-archive:"+file)
	if err != nil {
		return nil, err
	}
	return &OCIImage{ix: ix, tag: tag, refName: d.Annotations[layout.RefNameAnnotation], desc: d}, nil
}

// Digest is the digest of the image's manifest (or index), from the archive's index.json.
func (i *OCIImage) Digest() string { return i.desc.Digest }

// Tag is the tag asked for, or else the image's ref name in the archive ("" if none).
func (i *OCIImage) Tag() string {
	if i.tag != "" {
		return i.tag
	}
	return i.refName
}

// MediaType is the manifest's media type as index.json records it.
func (i *OCIImage) MediaType() string { return i.desc.MediaType }

// File is the archive's path.
func (i *OCIImage) File() string { return i.ix.path }

// Kind is OCI.
func (i *OCIImage) Kind() Kind { return OCI }

// Source is the push library's source string: "oci-archive:FILE[:TAG]".
func (i *OCIImage) Source() string {
	if i.tag != "" {
		return "oci-archive:" + i.ix.path + ":" + i.tag
	}
	return "oci-archive:" + i.ix.path
}

// Manifest reads the manifest (or index) from the archive and checks its size and digest.
func (i *OCIImage) Manifest() ([]byte, error) { return readManifest(i.ix, i.desc) }

// readManifest reads blobs/sha256/<hex> of d and verifies it.
func readManifest(ix *tarIndex, d layout.Descriptor) ([]byte, error) {
	if err := layout.CheckDigest(d.Digest); err != nil {
		return nil, invalid("archive %s: %v", ix.path, err)
	}
	b, err := ix.read("blobs/sha256/"+d.Digest[len("sha256:"):], maxSmall)
	if err != nil {
		return nil, invalid("archive %s: cannot read manifest %s: %v", ix.path, d.Digest, err)
	}
	if err := d.Verify(b, "manifest"); err != nil {
		return nil, err
	}
	return b, nil
}
