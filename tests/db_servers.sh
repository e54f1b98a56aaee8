#!/usr/bin/env bash
# The database tests (tests/test_sweep_db.py) start throwaway PostgreSQL and MariaDB servers
# from the distribution's binaries. Install Debian's packages when they are missing: only as
# root with apt-get, and never fatal (a server that cannot be had is skipped by the tests,
# and the skip says why). The packages' own services are not started.
set -u
need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null \
  || need+=(postgresql)
[ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || command -v mariadbd >/dev/null \
  || need+=(mariadb-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "database tests: ${need[*]} not installed here; those tests will be skipped"
  exit 0
fi
echo "installing ${need[*]} for the database tests"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then  # keep apt from starting the system services
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
install() { apt-get install -y -q --no-install-recommends "${need[@]}" >>"$log" 2>&1; }
if install || { apt-get update -q >>"$log" 2>&1 && install; }; then
  echo "installed ${need[*]}"
else
  echo "could not install ${need[*]} (the database tests will be skipped): $(tail -1 "$log")"
fi
rm -f "$log"
