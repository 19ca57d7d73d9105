#!/usr/bin/env bash
# Installs the tools of the load benchmark (`npm run bench:load`): haproxy, iperf3, wrk and nginx,
# and dnsmasq, the DNS benchmark's anchor (`npm run bench:dns`), from Debian/Ubuntu packages,
# when they are missing. Idempotent (installs nothing when every tool
# is there) and non-interactive. Needs root (or sudo) and apt-get.
#
# The packages' services are not started: while apt-get runs, a temporary policy-rc.d refuses
# service starts (unless the host already has one), so nginx does not come up on port 80 (nor
# dnsmasq on port 53).
set -euo pipefail

# command on the PATH -> Debian package
declare -A PACKAGE=([haproxy]=haproxy [iperf3]=iperf3 [wrk]=wrk [nginx]=nginx [dnsmasq]=dnsmasq)

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=()
for tool in haproxy iperf3 wrk nginx dnsmasq; do
  have "$tool" || missing+=("${PACKAGE[$tool]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-bench-tools: haproxy, iperf3, wrk, nginx and dnsmasq are installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-tools: missing ${missing[*]}, and apt-get is not available: install them with your package manager" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-bench-tools: missing ${missing[*]}: run this script as root (or install sudo)" >&2
    exit 1
  fi
fi

POLICY=/usr/sbin/policy-rc.d
added_policy=0
cleanup() { if [ "$added_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# added by install-bench-tools.sh while apt-get runs: start no service\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  added_policy=1
fi

echo "install-bench-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

for tool in haproxy iperf3 wrk nginx dnsmasq; do
  have "$tool" || { echo "install-bench-tools: $tool is still missing after apt-get install" >&2; exit 1; }
done
echo "install-bench-tools: done"
