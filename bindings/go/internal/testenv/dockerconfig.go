package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DockerConfig writes dir/config.json with an auths entry holding username and password (as
// docker login writes them: the base64 "auth" field) for each registry in auths, points
// DOCKER_CONFIG at dir for the rest of the test, and returns the file's path.
func DockerConfig(t testing.TB, dir string, auths map[string][2]string) string {
	t.Helper()
	entries := map[string]any{}
	for reg, up := range auths {
		entries[reg] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(up[0] + ":" + up[1]))}
	}
	return WriteDockerConfig(t, dir, map[string]any{"auths": entries})
}

// WriteDockerConfig writes config as dir/config.json (mode 0600), sets DOCKER_CONFIG=dir for
// the rest of the test, and returns the file's path.
func WriteDockerConfig(t testing.TB, dir string, config map[string]any) string {
	t.Helper()
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	return p
}

// CredentialHelper writes dir/docker-credential-NAME, a shell script implementing the `get`
// action of the credential helper protocol (the server URL on stdin; JSON with ServerURL,
// Username and Secret on stdout) that answers username and secret for every server and
// appends each server URL it is asked for to dir/NAME.log. It returns the log's path; put dir
// on PATH to use it.
func CredentialHelper(t testing.TB, dir, name, username, secret string) string {
	t.Helper()
	log := filepath.Join(dir, name+".log")
	script := fmt.Sprintf(`#!/bin/sh
# docker-credential-%[1]s: a test credential helper (only "get").
case "$1" in
get)
	read -r url || [ -n "$url" ] || exit 1
	printf '%%s\n' "$url" >>%[2]s
	printf '{"ServerURL":"%%s","Username":"%%s","Secret":"%%s"}\n' "$url" %[3]s %[4]s
	;;
*)
	echo "unsupported action $1" >&2
	exit 1
	;;
esac
`, name, shellQuote(log), shellQuote(username), shellQuote(secret))
	WriteExecutable(t, filepath.Join(dir, "docker-credential-"+name), script)
	return log
}

// shellQuote quotes s for sh: inside single quotes nothing is special but the quote itself.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// CertsD makes a certs.d base directory holding <dir>/<hostPort>/ca.crt (a copy of caFile)
// and returns it; set IDP_PUSH_CERTS_D to it.
func CertsD(t testing.TB, hostPort, caFile string) string {
	t.Helper()
	base := t.TempDir()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(base, hostPort), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, hostPort, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return base
}

// WriteExecutable writes an executable script at path. A child sh writes it, not this process:
// a goroutine or Rust thread that forks while this process holds the file open for writing
// passes that descriptor to its child until the child execs, and running the script in that
// window fails with ETXTBSY ("text file busy").
func WriteExecutable(t testing.TB, path, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cat > "$1" && chmod 755 "$1"`, "sh", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing %s: %v: %s", path, err, out)
	}
}
