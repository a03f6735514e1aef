#!/usr/bin/env bash
# Installs what the test suite needs besides npm packages: the AWS CLI v2 from Debian's awscli package.
set -euo pipefail
if [ -x /usr/bin/aws ]; then
  exit 0
fi
run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "install-test-deps: need root (or sudo) to install awscli with apt-get" >&2
    exit 1
  fi
}
run_as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y -qq awscli >/dev/null
