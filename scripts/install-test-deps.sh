#!/usr/bin/env bash
# Installs what the test suite needs besides npm packages: the real S3 clients of the compatibility
# tests, from Debian: the AWS CLI v2 (awscli), boto3 (python3-boto3), rclone and s3cmd; and curl, whose
# --aws-sigv4 the legacy-route tests sign with; nginx and Varnish, which the bench compares Falcon with
# (a test checks the bench's configurations of them).
set -euo pipefail
missing=()
[ -x /usr/bin/aws ] || missing+=(awscli)
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)
[ -x /usr/bin/rclone ] || missing+=(rclone)
[ -x /usr/bin/s3cmd ] || missing+=(s3cmd)
[ -x /usr/bin/curl ] || missing+=(curl)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/sbin/varnishd ] || missing+=(varnish)
[ ${#missing[@]} -eq 0 ] && exit 0
run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "install-test-deps: need root (or sudo) to install ${missing[*]} with apt-get" >&2
    exit 1
  fi
}
run_as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian starts the services it installs where it can; the bench starts its own instances on free ports.
for service in nginx varnish; do
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    run_as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    run_as_root service "$service" stop >/dev/null 2>&1 || true
  fi
done
