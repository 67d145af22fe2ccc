#!/bin/sh
# Render the nginx config from the environment, make a self-signed certificate
# when none is mounted, then run nginx in the foreground as PID 1.
set -eu
D=/etc/nginx/faultdrill

die() { echo "ingress: $*" >&2; exit 2; }

case "$UPSTREAM" in
    *:*) ;;
    *) die "UPSTREAM must be host:port (e.g. app:8000), got '$UPSTREAM'" ;;
esac
case "$TLS_POLICY" in
    legacy|modern) ;;
    *) die "TLS_POLICY must be 'legacy' or 'modern', got '$TLS_POLICY'" ;;
esac
case "$ACCESS_LOG" in
    on) ACCESS_LOG_DIRECTIVE='access_log /dev/stdout ingress buffer=32k flush=1s;' ;;
    off) ACCESS_LOG_DIRECTIVE='access_log off;' ;;
    *) die "ACCESS_LOG must be 'on' or 'off', got '$ACCESS_LOG'" ;;
esac

TLS_CERT_FILE=${TLS_CERT_FILE:-}
TLS_KEY_FILE=${TLS_KEY_FILE:-}
if [ -z "$TLS_CERT_FILE" ]; then
    TLS_CERT_FILE=$D/tls/cert.pem
    TLS_KEY_FILE=$D/tls/key.pem
    if [ ! -s "$TLS_CERT_FILE" ]; then
        mkdir -p "$D/tls"
        # RSA, not ECDSA: the oldest TLS 1.0 clients a legacy drill imitates speak RSA.
        openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
            -keyout "$TLS_KEY_FILE" -out "$TLS_CERT_FILE" \
            -subj "/CN=$TLS_SERVER_NAME" \
            -addext "subjectAltName=DNS:$TLS_SERVER_NAME,DNS:localhost,DNS:ingress,IP:127.0.0.1" \
            2>/dev/null
    fi
fi
[ -n "$TLS_KEY_FILE" ] || die "TLS_KEY_FILE must be set together with TLS_CERT_FILE"

RESOLVER=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
RESOLVER=${RESOLVER:-127.0.0.11}
case "$RESOLVER" in *:*) RESOLVER="[$RESOLVER]" ;; esac

sed -e "s|@WORKER_PROCESSES@|$WORKER_PROCESSES|g" \
    -e "s|@ERROR_LOG_LEVEL@|$ERROR_LOG_LEVEL|g" \
    -e "s|@ACCESS_LOG_DIRECTIVE@|$ACCESS_LOG_DIRECTIVE|g" \
    -e "s|@RESOLVER@|$RESOLVER|g" \
    -e "s|@TLS_CERT_FILE@|$TLS_CERT_FILE|g" \
    -e "s|@TLS_KEY_FILE@|$TLS_KEY_FILE|g" \
    -e "s|@PROXY_READ_TIMEOUT_S@|$PROXY_READ_TIMEOUT_S|g" \
    -e "s|@UPSTREAM@|$UPSTREAM|g" \
    "$D/nginx.conf.template" > /etc/nginx/nginx.conf

cp "$D/policy-$TLS_POLICY.conf" "$D/active-policy.conf"
echo "$TLS_POLICY" > "$D/active-policy.name"

nginx -t -q
echo "ingress: upstream $UPSTREAM; 8443 policy $TLS_POLICY; 9443 policy modern; status on :8080/nginx_status"
exec nginx -g 'daemon off;'
