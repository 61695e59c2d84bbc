#!/usr/bin/env bash
# A real Gitea with its container registry, shaped like IDPBuilder's: Gitea on plain HTTP behind
# nginx standing in for ingress-nginx (TLS with a self-signed CA for gitea.cnoe.localtest.me,
# a request body limit), admin user giteaAdmin made from the command line.
#
#   tests/support/gitea.sh build              # builds the cached binary if it is missing
#   tests/support/gitea.sh start STATE_DIR    # writes STATE_DIR/env (source it)
#   tests/support/gitea.sh stop STATE_DIR
#
# The binary is built from Gitea's Go module (go install refuses it: its go.mod has replace
# directives) into $IDP_GITEA_CACHE (default ~/.cache/idp-push), once. A first build takes
# about 10 minutes on 2 cores. IDPBuilder deploys 1.24.3, which the Go module proxy here does
# not serve (nor 1.24.1-1.24.5); the default is 1.24.6, the same minor series. GITEA_VERSION
# picks another; `start` checks that the server reports that version.
#
# STATE_DIR/env exports IDP_GITEA_REGISTRY (gitea.cnoe.localtest.me:PORT), IDP_GITEA_CA,
# IDP_GITEA_USERNAME (giteaAdmin), IDP_GITEA_PASSWORD, IDP_GITEA_BODY_LIMIT.
set -euo pipefail
cmd=${1:?usage: gitea.sh build|start|stop [STATE_DIR]}
GITEA_VERSION=${GITEA_VERSION:-v1.24.6}
cache=${IDP_GITEA_CACHE:-$HOME/.cache/idp-push}
binary=$cache/gitea-$GITEA_VERSION
assets=$cache/gitea-$GITEA_VERSION-assets
HOST=gitea.cnoe.localtest.me
BODY_LIMIT=${GITEA_BODY_LIMIT:-64m}

# shellcheck source=tests/support/lib.sh
. "$(dirname "$0")/lib.sh"

build() {
  [ -x "$binary" ] && [ -d "$assets/options" ] && return 0
  mkdir -p "$cache"
  local dir src
  dir=$(go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | jq -r '.Dir // empty')
  [ -n "$dir" ] || { echo "the Go module proxy does not serve code.gitea.io/gitea@$GITEA_VERSION" >&2; exit 1; }
  # Without the `bindata` tag (which needs the web front end built with npm) Gitea reads its
  # locales and templates from STATIC_ROOT_PATH; the registry API needs nothing else.
  rm -rf "$assets" && mkdir -p "$assets"
  cp -r "$dir/options" "$dir/templates" "$assets/"
  chmod -R u+w "$assets"
  [ -x "$binary" ] && return 0
  src=$(mktemp -d "$cache/gitea-src.XXXXXX")
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  echo "building Gitea $GITEA_VERSION (about 10 minutes the first time)" >&2
  # main.Version is what Gitea reports (gitea --version, /api/v1/version); its Makefile sets it.
  (cd "$src" && GOFLAGS=-mod=mod go build -tags 'sqlite sqlite_unlock_notify' \
    -ldflags "-X main.Version=${GITEA_VERSION#v}" -o "$binary.tmp" .)
  mv "$binary.tmp" "$binary"
  rm -rf "$src"
}

start() {
  local state=$1
  build
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  # *.localtest.me resolves to 127.0.0.1 through public DNS; without a network, say it here.
  grep -q "[[:space:]]$HOST\$" /etc/hosts || echo "127.0.0.1 $HOST cnoe.localtest.me" >>/etc/hosts

  # The CA and certificate, as IDPBuilder makes them: ECDSA P-256, names for cnoe.localtest.me.
  "$(dirname "$0")/certs.sh" ca "$state" ca
  SAN="DNS:cnoe.localtest.me,DNS:*.cnoe.localtest.me,IP:127.0.0.1" \
    "$(dirname "$0")/certs.sh" server "$state" tls "$state/ca.crt" "$state/ca.key"

  local http_port tls_port password
  http_port=$(free_port)
  tls_port=$(free_port)
  password="gitea-$(openssl rand -hex 10)"
  mkdir -p "$state/data" "$state/custom/conf" "$state/nginx-tmp"
  cat >"$state/custom/conf/app.ini" <<INI
APP_NAME = idp-push test Gitea
RUN_MODE = prod
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = $state/data
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $http_port
DOMAIN = $HOST
ROOT_URL = https://$HOST:$tls_port/
STATIC_ROOT_PATH = $assets
DISABLE_SSH = true
OFFLINE_MODE = true
LFS_START_SERVER = false
[database]
DB_TYPE = sqlite3
PATH = $state/data/gitea.db
[security]
INSTALL_LOCK = true
[service]
DISABLE_REGISTRATION = true
[packages]
ENABLED = true
[repository]
ROOT = $state/data/repos
[log]
MODE = file
LEVEL = Warn
ROOT_PATH = $state/log
[cron]
ENABLED = false
[indexer]
REPO_INDEXER_ENABLED = false
INI
  export I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR=$state/data GITEA_CUSTOM=$state/custom
  "$binary" --config "$state/custom/conf/app.ini" migrate >"$state/migrate.log" 2>&1
  "$binary" --config "$state/custom/conf/app.ini" admin user create --admin --username giteaAdmin \
    --password "$password" --email giteaadmin@cnoe.localtest.me --must-change-password=false \
    >"$state/user.log" 2>&1
  "$binary" --config "$state/custom/conf/app.ini" web >"$state/gitea.log" 2>&1 &
  echo $! >"$state/gitea.pid"

  {
    nginx_conf_head "$state" "$state/nginx-tmp"
    cat <<CONF
  server {
    listen 127.0.0.1:$tls_port ssl;
    server_name $HOST;
    ssl_certificate $state/tls.crt;
    ssl_certificate_key $state/tls.key;
    # ingress-nginx's proxy-body-size for Gitea is 1024m; smaller here so big layers need chunks.
    client_max_body_size $BODY_LIMIT;
    location / {
      proxy_pass http://127.0.0.1:$http_port;
      proxy_http_version 1.1;
      proxy_set_header Host \$host:$tls_port;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_read_timeout 300s;
    }
  }
}
CONF
  } >"$state/nginx.conf"
  nginx -c "$state/nginx.conf" -e "$state/nginx-error.log" >"$state/nginx.out" 2>&1 &
  echo $! >"$state/nginx.pid.run"

  # Gitea's registry answers an anonymous /v2/ with 401 once it is up.
  challenges() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/ca.crt" "https://$HOST:$tls_port/v2/")" = 401 ]
  }
  wait_ready gitea "$(cat "$state/gitea.pid")" "$state/gitea.log" 600 challenges
  # The version the server itself reports, so that a test says which Gitea it ran against.
  local served
  served=$(curl -s --cacert "$state/ca.crt" "https://$HOST:$tls_port/api/v1/version" | jq -r '.version // empty')
  [ "$served" = "${GITEA_VERSION#v}" ] || {
    echo "gitea reports version '$served', not ${GITEA_VERSION#v}: delete $binary to rebuild it" >&2
    exit 1
  }
  cat >"$state/env" <<ENV
export IDP_GITEA_STATE=$state
export IDP_GITEA_REGISTRY=$HOST:$tls_port
export IDP_GITEA_CA=$state/ca.crt
export IDP_GITEA_USERNAME=giteaAdmin
export IDP_GITEA_PASSWORD=$password
export IDP_GITEA_BODY_LIMIT=$BODY_LIMIT
ENV
  echo "gitea $served on https://$HOST:$tls_port (nginx, body limit $BODY_LIMIT) -> 127.0.0.1:$http_port"
}

stop() { stop_pidfiles "$1/nginx.pid.run" "$1/gitea.pid"; }

case "$cmd" in
  build) build ;;
  start) start "${2:?state dir}" ;;
  stop) stop "${2:?state dir}" ;;
  *) echo "usage: gitea.sh build|start|stop [STATE_DIR]" >&2; exit 2 ;;
esac
