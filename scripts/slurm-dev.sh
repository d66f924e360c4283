#!/usr/bin/env bash
# A one-node SLURM cluster for development and tests: scripts/slurm-dev.sh start|stop|status
#
# Everything lives under $SLURM_DEV_DIR (default .atrium/slurm-dev in the repo): slurm.conf,
# the munge key and socket, state, spool, logs and pid files. `start` installs slurm-wlm and munge
# when missing (as root, with apt-get), starts munged + slurmctld + slurmd, waits until sinfo shows
# the node idle and prints how to point Atrium at it. A second `start` reuses a running cluster.
# `stop` cancels this cluster's jobs and stops exactly the daemons it started (by their pid files).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SLURM_DEV_DIR:-$ROOT/.atrium/slurm-dev}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
CONF="$DIR/slurm.conf"
PART="${ATRIUM_SLURM_PARTITION:-debug}"
say() { echo "slurm-dev: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

install_missing() {
  local missing=()
  for c in sbatch slurmctld slurmd; do command -v "$c" >/dev/null || { missing+=(slurm-wlm); break; }; done
  command -v munged >/dev/null || missing+=(munge)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    say "missing ${missing[*]}: sudo apt-get install -y slurm-wlm munge"; exit 1
  fi
}

configure() {
  mkdir -p "$DIR/munge" "$DIR/run" "$DIR/state" "$DIR/spool" "$DIR/log"
  chmod 700 "$DIR/munge"; chmod 755 "$DIR/run" "$DIR"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 2>/dev/null
    chmod 400 "$DIR/munge/munge.key"
  fi
  if [ ! -f "$CONF" ]; then
    local host cpus mem cport dport
    host="$(hostname -s)"
    cpus="$(nproc)"
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    cport="${SLURM_DEV_PORT:-$(free_port)}"
    dport="$(free_port)"
    [ "$dport" = "$cport" ] && dport="$(free_port)"
    cat > "$CONF" <<CONF
# Written by scripts/slurm-dev.sh: a one-node development cluster.
ClusterName=atriumdev
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/run/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
DefMemPerCPU=256
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PART Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  fi
}

sc() { SLURM_CONF="$CONF" "$@"; }

idle() { sc sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

print_env() {
  local p; p="$(awk -F'[= ]' '/^PartitionName=/{print $2}' "$CONF")"
  cat <<MSG
SLURM dev cluster running (directory $DIR). Point Atrium at it with:
  export SLURM_CONF=$CONF
  export ATRIUM_SLURM_PARTITION=$p
Stop it with: SLURM_DEV_DIR=$DIR scripts/slurm-dev.sh stop
MSG
}

start() {
  install_missing
  configure
  if alive "$DIR/run/munged.pid" && alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd.pid" && idle; then
    say "already running"; print_env; return 0
  fi
  if ! alive "$DIR/run/munged.pid"; then
    rm -f "$DIR/run/munge.socket" "$DIR/run/munge.socket.lock"
    munged --force --socket="$DIR/run/munge.socket" --key-file="$DIR/munge/munge.key" \
      --log-file="$DIR/log/munged.log" --pid-file="$DIR/run/munged.pid" --seed-file="$DIR/munge/munged.seed"
  fi
  if ! alive "$DIR/run/slurmctld.pid"; then
    slurmctld -f "$CONF" || { say "slurmctld failed: see $DIR/log/slurmctld.log"; exit 1; }
  fi
  if ! alive "$DIR/run/slurmd.pid"; then
    slurmd -f "$CONF" || { say "slurmd failed: see $DIR/log/slurmd.log"; exit 1; }
  fi
  for _ in $(seq 1 120); do
    if idle; then print_env; return 0; fi
    local st; st="$(sc sinfo -h -o '%t' 2>/dev/null || true)"
    case "$st" in down*|drain*) sc scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true;; esac
    sleep 0.5
  done
  say "the node did not become idle within 60 s; see $DIR/log/"; sc sinfo >&2 || true; exit 1
}

stop() {
  if [ -f "$CONF" ] && alive "$DIR/run/slurmctld.pid"; then
    local ids; ids="$(sc squeue -h -o '%i' 2>/dev/null | tr '\n' ' ' || true)"
    if [ -n "${ids// /}" ]; then
      # shellcheck disable=SC2086
      sc scancel $ids 2>/dev/null || true
      for _ in $(seq 1 20); do [ -z "$(sc squeue -h -t R,CG -o '%i' 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  for d in slurmd slurmctld munged; do
    local f="$DIR/run/$d.pid"
    if alive "$f"; then
      local pid; pid="$(cat "$f")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      say "stopped $d ($pid)"
    fi
    rm -f "$f"
  done
}

status() {
  local rc=0
  for d in munged slurmctld slurmd; do
    if alive "$DIR/run/$d.pid"; then echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"; else echo "$d: not running"; rc=3; fi
  done
  if [ $rc = 0 ]; then sc sinfo || rc=3; print_env; fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: scripts/slurm-dev.sh start|stop|status  (directory: \$SLURM_DEV_DIR, default .atrium/slurm-dev)" >&2; exit 2 ;;
esac
