package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

const (
	// maxSmall bounds the metadata files read whole (manifest.json, index.json, manifests,
	// configs), as registries bound manifests (10 MiB).
	maxSmall = 10 << 20
	// maxLinks is how many links one lookup follows before it is called a loop.
	maxLinks = 40
	// blockSize is the tar block size: headers and data are padded to it.
	blockSize = 512
)

// entry is what the archive holds under one name.
type entry struct {
	typeflag byte   // tar.TypeReg, tar.TypeSymlink or tar.TypeLink
	target   string // links: the target as a normalized archive path ("" when it leaves the archive)
	offset   int64  // regular files: where the data starts in the archive
	size     int64
}

// tarIndex lists the files of a tar archive with their offsets, from one pass over its
// headers (data is skipped with seeks). Nothing is extracted: files are read in place.
// Unsafe names and links are not refused here (the push library refuses them before it
// reads anything); they can simply never be looked up, and lookups never touch the file
// system outside the archive.
type tarIndex struct {
	path    string
	entries map[string]entry
}

// indexTar indexes the archive at file. Compressed files, directories and files that are not
// tar archives are refused with a message saying what they are.
func indexTar(file string) (*tarIndex, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, invalid("cannot open archive %s: %v", file, reason(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, invalid("cannot read archive %s: %v", file, reason(err))
	}
	if st.IsDir() {
		return nil, invalid("%s is a directory, not a tar file; for an OCI layout directory write oci:%s", file, file)
	}
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, invalid("cannot read archive %s: %v", file, reason(err))
	}
	if n == 0 {
		return nil, invalid("archive %s is empty", file)
	}
	if c := compressionOf(head[:n]); c != "" {
		return nil, invalid("%s is %s-compressed; decompress it first (e.g. gunzip, zstd -d): images are "+
			"read in place from an uncompressed tar, which a compressed stream does not allow", file, c)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, invalid("cannot read archive %s: %v", file, reason(err))
	}
	ix := &tarIndex{path: file, entries: map[string]entry{}}
	tr := tar.NewReader(f)
	last := ""
	var next int64 // where the header after the last entry starts: the end-of-archive marker
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if last == "" {
				return nil, invalid("%s is not a tar archive (or is corrupted at its first header: %v)", file, err)
			}
			return nil, invalid("archive %s is corrupted or truncated after entry %q: %v", file, last, err)
		}
		last = h.Name
		// After Next, the file is positioned at the entry's data: archive/tar reads headers
		// block by block and skips data with Seek.
		offset, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, invalid("cannot read archive %s: %v", file, reason(err))
		}
		if h.Size < 0 || offset+h.Size > st.Size() {
			return nil, invalid("archive %s is truncated: entry %q runs past its end", file, h.Name)
		}
		next = offset + (h.Size+blockSize-1)/blockSize*blockSize
		name, ok := normalize(h.Name)
		if !ok || name == "" {
			continue
		}
		var e entry
		switch h.Typeflag {
		case tar.TypeReg:
			e = entry{typeflag: tar.TypeReg, offset: offset, size: h.Size}
		case tar.TypeSymlink:
			target := ""
			if !path.IsAbs(h.Linkname) {
				if t, ok := normalize(path.Join(path.Dir(name), h.Linkname)); ok {
					target = t
				}
			}
			e = entry{typeflag: tar.TypeSymlink, target: target}
		case tar.TypeLink:
			target, _ := normalize(h.Linkname)
			e = entry{typeflag: tar.TypeLink, target: target}
		default:
			continue // directories and the like
		}
		if _, dup := ix.entries[name]; !dup {
			ix.entries[name] = e
		}
	}
	if len(ix.entries) == 0 {
		return nil, invalid("%s is not a tar archive, or holds no files", file)
	}
	// archive/tar also ends without error where the file ends between two entries; a whole
	// archive has its end-of-archive marker (two zero blocks) there.
	marker := make([]byte, 2*blockSize)
	if _, err := f.ReadAt(marker, next); err != nil || strings.Trim(string(marker), "\x00") != "" {
		return nil, invalid("archive %s is truncated: it ends after entry %q without the end-of-archive marker", file, last)
	}
	return ix, nil
}

// normalize turns an entry name into an archive path ("./a//b" -> "a/b"); ok is false for
// names that are absolute or leave the archive.
func normalize(name string) (string, bool) {
	if strings.HasPrefix(name, "/") {
		return "", false
	}
	p := path.Clean(name)
	if p == "." {
		return "", true
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

// has reports whether the archive holds a file (or a link to one) named name.
func (ix *tarIndex) has(name string) bool {
	_, err := ix.lookup(name)
	return err == nil
}

// lookup finds the regular file name refers to, following links inside the archive.
func (ix *tarIndex) lookup(name string) (entry, error) {
	p, ok := normalize(name)
	if !ok || p == "" {
		return entry{}, fmt.Errorf("%q is not a path inside the archive", name)
	}
	for i := 0; i <= maxLinks; i++ {
		e, found := ix.entries[p]
		if !found {
			return entry{}, fmt.Errorf("%q: %w", name, fs.ErrNotExist)
		}
		if e.typeflag == tar.TypeReg {
			return e, nil
		}
		if e.target == "" {
			return entry{}, fmt.Errorf("%q is a link that leads outside the archive", name)
		}
		p = e.target
	}
	return entry{}, fmt.Errorf("%q: too many links (a loop?)", name)
}

// read reads the file name whole; files larger than max are refused.
func (ix *tarIndex) read(name string, max int64) ([]byte, error) {
	e, err := ix.lookup(name)
	if err != nil {
		return nil, err
	}
	if e.size > max {
		return nil, fmt.Errorf("%q is %d bytes, larger than the %d allowed", name, e.size, max)
	}
	f, err := os.Open(ix.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, e.size)
	if _, err := f.ReadAt(b, e.offset); err != nil {
		return nil, fmt.Errorf("reading %q: %w", name, err)
	}
	return b, nil
}

// compressionOf names the compression whose magic bytes head starts with ("" for none).
func compressionOf(head []byte) string {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return "gzip"
	case strings.HasPrefix(string(head), "\x28\xb5\x2f\xfd"):
		return "zstd"
	case strings.HasPrefix(string(head), "\xfd7zXZ\x00"):
		return "xz"
	case strings.HasPrefix(string(head), "BZh"):
		return "bzip2"
	}
	return ""
}

// reason is an OS error without the operation and path that the message already gives.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
