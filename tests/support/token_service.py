#!/usr/bin/env python3
"""A small token service for distribution's `auth: token:` (Python standard library + openssl).

    token_service.py CONFIG.json

CONFIG holds: port, tls_cert, tls_key (HTTPS), signing_cert, signing_key (RSA, RS256), issuer,
service, username, password, refresh_token, token_ttl (optional), log (a file that gets one JSON line per request,
never a secret), ready (a file written once the service listens).

Two realms:
  /token           docker's protocol: GET with Basic user:password -> {"token", "access_token"};
                   POST form grant_type=refresh_token (needs client_id) or grant_type=password
                   -> {"access_token", "refresh_token", "expires_in"}.
  /get-only/token  as Gitea: POST is 404; GET with Basic takes the password or the refresh token
                   as password (Gitea takes access tokens that way).

Tokens are JWTs with the signing certificate in `x5c`, which distribution verifies against its
`rootcertbundle`; they grant every action asked for in `scope`.
"""

import base64
import binascii
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

CONFIG = json.load(open(sys.argv[1]))
LOG_LOCK = threading.Lock()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_cert_der_b64():
    pem = open(CONFIG["signing_cert"]).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())


X5C = signing_cert_der_b64()


def make_token(subject, scopes):
    access = []
    for scope in scopes:
        for one in scope.split(" "):
            parts = one.split(":")
            if len(parts) < 3:
                continue
            access.append({
                "type": parts[0],
                "name": ":".join(parts[1:-1]),
                "actions": [a for a in parts[-1].split(",") if a],
            })
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    claims = {
        "iss": CONFIG["issuer"],
        "sub": subject,
        "aud": CONFIG["service"],
        # token_ttl (seconds, default 300) may be negative: distribution allows 60 s of clock
        # leeway, so -58 makes tokens that expire about two seconds after they are issued.
        "exp": now + CONFIG.get("token_ttl", 300),
        "nbf": now - 10,
        "iat": now,
        "jti": binascii.hexlify(os.urandom(8)).decode(),
        "access": access,
    }
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", CONFIG["signing_key"]],
        input=signing_input, capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # no access log on stderr
        pass

    def record(self, **fields):
        fields.update(method=self.command, path=urllib.parse.urlsplit(self.path).path)
        with LOG_LOCK, open(CONFIG["log"], "a") as log:
            log.write(json.dumps(fields, sort_keys=True) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def basic(self):
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path not in ("/token", "/get-only/token"):
            return self.reply(404, {"error": "not found"})
        creds = self.basic()
        ok = False
        if creds is not None:
            user, password = creds
            ok = (user == CONFIG["username"] and password == CONFIG["password"]) or (
                url.path == "/get-only/token" and password == CONFIG["refresh_token"])
        self.record(auth="basic" if creds else "none", ok=ok,
                    service=query.get("service", [""])[0], scope=query.get("scope", []))
        if not ok:
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                "message": "authentication required"}]})
        token = make_token(creds[0], query.get("scope", []))
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        if url.path != "/token":
            self.record(ok=False)
            return self.reply(404, {"error": "not found"})
        form = urllib.parse.parse_qs(body)
        get = lambda k: form.get(k, [""])[0]
        grant, client_id = get("grant_type"), get("client_id")
        ok = False
        if not client_id:
            status, answer = 400, {"error": "invalid_request",
                                   "error_description": "client_id is required"}
        elif grant == "refresh_token":
            ok = get("refresh_token") == CONFIG["refresh_token"]
            status, answer = (200, None) if ok else (401, {"error": "invalid_grant"})
        elif grant == "password":
            ok = get("username") == CONFIG["username"] and get("password") == CONFIG["password"]
            status, answer = (200, None) if ok else (401, {"error": "invalid_grant"})
        else:
            status, answer = 400, {"error": "unsupported_grant_type"}
        self.record(grant_type=grant, client_id=client_id, ok=ok, service=get("service"),
                    scope=form.get("scope", []),
                    content_type=self.headers.get("Content-Type", ""))
        if not ok:
            return self.reply(status, answer)
        token = make_token(CONFIG["username"], form.get("scope", []))
        self.reply(200, {"access_token": token, "expires_in": 300,
                         "refresh_token": CONFIG["refresh_token"]})


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", CONFIG["port"]), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CONFIG["tls_cert"], CONFIG["tls_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    open(CONFIG["ready"], "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
