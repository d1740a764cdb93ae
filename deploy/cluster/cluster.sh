#!/usr/bin/env bash
# A test cluster on loopback: 3 MariaDB Galera nodes (rsync SST, 64 MB
# buffer pool each) and a Redis Cluster of 3 masters, each on its own ports
# and data directory, beside (never touching) a MariaDB on 3306 or a Redis
# on 6379.
#
#   deploy/cluster/cluster.sh up      # idempotent; prints the env to export
#   deploy/cluster/cluster.sh env     # the env only
#   deploy/cluster/cluster.sh down    # stops everything it started, removes its data
#   deploy/cluster/cluster.sh kill N  # SIGKILL Galera node N (1..3)
#   deploy/cluster/cluster.sh start N # restart node N (it rejoins, IST or SST)
#
# Ports: MariaDB GALERA_PORT+0..2 (default 23306..23308), Galera replication
# 24567+10*i, IST +1, SST +2; Redis REDIS_PORT+0..2 (default 27001..27003).
# Every wait is bounded; a failure prints the node's error log.
set -euo pipefail

BASE=${SMMAPI_CLUSTER_DIR:-/tmp/smmapi-cluster}
GALERA_PORT=${GALERA_PORT:-23306}
REPL_PORT=${REPL_PORT:-24567}
REDIS_PORT=${REDIS_PORT:-27001}
N=3
# The rsync daemon of an SST started by root would run as nobody and fail
# to write the datadir: the nodes run as the packaged mysql user.
OSUSER=$(id -u mysql >/dev/null 2>&1 && echo mysql || id -un)

need() {
  local missing=()
  [ -f /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
  command -v rsync >/dev/null || missing+=(rsync)
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  command -v redis-server >/dev/null || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
  fi
}

port() { echo $((GALERA_PORT + $1 - 1)); }
rport() { echo $((REPL_PORT + 10 * ($1 - 1))); }
dir() { echo "$BASE/galera$1"; }
sock() { echo "$(dir "$1")/mysqld.sock"; }

cnf() {
  local i=$1 d r addr=""
  d=$(dir "$i"); r=$(rport "$i")
  for j in $(seq $N); do addr+="127.0.0.1:$(rport "$j"),"; done
  cat >"$d.cnf" <<EOF
[mysqld]
user=$OSUSER
datadir=$d/data
socket=$(sock "$i")
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=$(port "$i")
bind-address=127.0.0.1
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
max_connections=300
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
character-set-server=utf8mb4
collation-server=utf8mb4_bin
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=smmapi_test
wsrep_cluster_address=gcomm://${addr%,}
wsrep_node_name=node$i
wsrep_node_address=127.0.0.1:$r
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$r;ist.recv_addr=127.0.0.1:$((r + 1));gcache.size=32M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$((r + 2))
wsrep_slave_threads=2
EOF
}

alive() { [ -f "$(dir "$1")/mysqld.pid" ] && kill -0 "$(cat "$(dir "$1")/mysqld.pid")" 2>/dev/null; }

synced() {
  mariadb -uroot -h127.0.0.1 -P"$(port "$1")" -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | grep -q Synced
}

wait_synced() {
  for _ in $(seq 120); do
    synced "$1" && return 0
    if ! alive "$1" && [ -f "$(dir "$1")/mysqld.pid" ]; then break; fi
    sleep 0.5
  done
  echo "galera node $1 did not reach Synced; its log:" >&2
  tail -40 "$(dir "$1")/error.log" >&2 || true
  return 1
}

# start_node i [bootstrap]
start_node() {
  local i=$1 d
  d=$(dir "$i")
  alive "$i" && return 0
  mkdir -p "$d/data"
  chown -R "$OSUSER" "$d"
  cnf "$i"
  if [ "${2:-}" = bootstrap ]; then
    if [ ! -d "$d/data/mysql" ]; then
      mariadb-install-db --defaults-file="$d.cnf" --user="$OSUSER" --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1
    fi
    # A node that crashed holds safe_to_bootstrap: 0 in its state file.
    [ -f "$d/data/grastate.dat" ] && sed -i 's/safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$d/data/grastate.dat"
    setsid mariadbd --defaults-file="$d.cnf" --wsrep-new-cluster </dev/null >/dev/null 2>&1 &
  else
    setsid mariadbd --defaults-file="$d.cnf" </dev/null >/dev/null 2>&1 &
  fi
  wait_synced "$i"
}

redis_up() {
  local ports=() p d
  for i in $(seq $N); do
    p=$((REDIS_PORT + i - 1)); d="$BASE/redis$i"; ports+=("127.0.0.1:$p")
    mkdir -p "$d"
    if ! redis-cli -p "$p" ping >/dev/null 2>&1; then
      redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$d" --pidfile "$d/redis.pid" \
        --logfile "$d/redis.log" --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
        --cluster-node-timeout 2000 --save "" --appendonly no
    fi
  done
  for i in $(seq $N); do
    p=$((REDIS_PORT + i - 1))
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  if ! redis-cli -p "$REDIS_PORT" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    redis-cli --cluster create "${ports[@]}" --cluster-replicas 0 --cluster-yes >"$BASE/redis-create.log" 2>&1 ||
      { cat "$BASE/redis-create.log" >&2; return 1; }
  fi
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" cluster info | grep -q 'cluster_state:ok' && return 0
    sleep 0.1
  done
  echo "redis cluster not ok" >&2
  return 1
}

env_out() {
  local dsns=() addrs=()
  for i in $(seq $N); do
    dsns+=("root@tcp(127.0.0.1:$(port "$i"))/")
    addrs+=("127.0.0.1:$((REDIS_PORT + i - 1))")
  done
  echo "export SMMAPI_TEST_GALERA_DSNS='$(IFS=';'; echo "${dsns[*]}")'"
  echo "export SMMAPI_TEST_REDIS_CLUSTER='$(IFS=,; echo "${addrs[*]}")'"
}

stop_node() {
  local i=$1 pid
  alive "$i" || return 0
  pid=$(cat "$(dir "$i")/mysqld.pid")
  kill "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
up)
  need
  mkdir -p "$BASE"
  if synced 1 || synced 2 || synced 3; then
    for i in $(seq $N); do start_node "$i"; done
  else
    start_node 1 bootstrap
    start_node 2
    start_node 3
  fi
  redis_up
  env_out
  ;;
env) env_out ;;
kill)
  pid=$(cat "$(dir "$2")/mysqld.pid")
  kill -9 "$pid"
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$(dir "$2")/mysqld.pid"
  ;;
start) start_node "$2" ;;
down)
  for i in 3 2 1; do stop_node "$i"; done
  for i in $(seq $N); do
    p=$((REDIS_PORT + i - 1))
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$BASE"
  ;;
*)
  echo "usage: $0 up|env|down|kill N|start N" >&2
  exit 2
  ;;
esac
