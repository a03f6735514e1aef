#!/usr/bin/env bash
# Installs what `npm run bench` compares Falcon with: nginx (proxy_cache) and Varnish, from the distribution's
# packages (Debian/Ubuntu). The bench starts its own instances on loopback ports with its own configuration, so
# the system services the packages come with are stopped and disabled rather than left listening on 80 and 6081.
set -euo pipefail

SERVICES=(nginx varnish varnishncsa)

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "bench/setup.sh: run as root (or install sudo) to install packages" >&2
    exit 1
  fi
}

installed() {
  [[ -x "/usr/sbin/$1" ]] || command -v "$1" >/dev/null 2>&1
}

# Whether systemd runs this machine: in a container systemctl may exist without it.
systemd_running() {
  [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1
}

stop_service() {
  local service="$1"
  if systemd_running; then
    if systemctl list-unit-files "${service}.service" >/dev/null 2>&1; then
      as_root systemctl disable --now "${service}.service" >/dev/null 2>&1 || true
    fi
  elif command -v service >/dev/null 2>&1 && [[ -x "/etc/init.d/${service}" ]]; then
    as_root service "${service}" stop >/dev/null 2>&1 || true
  fi
}

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench/setup.sh: apt-get not found; install nginx and varnish (varnishd 7) with your package manager" >&2
  exit 1
fi

missing=()
installed nginx || missing+=(nginx)
installed varnishd || missing+=(varnish)

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing ${missing[*]}..."
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; then
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
fi

for service in "${SERVICES[@]}"; do
  stop_service "${service}"
done

# Packages started without an init system (no systemd, no service script) leave their processes behind.
for daemon in nginx varnishd; do
  if command -v pgrep >/dev/null 2>&1 && pgrep -x "${daemon}" >/dev/null 2>&1; then
    echo "warning: ${daemon} is still running (started outside the bench?); stop it before benchmarking" >&2
  fi
done

echo "nginx: $(/usr/sbin/nginx -v 2>&1 || true)"
echo "varnish: $(/usr/sbin/varnishd -V 2>&1 | head -n 1 || true)"
echo "npm run bench now measures nginx and Varnish too (BENCH_COMPETITORS=0 skips them)."
