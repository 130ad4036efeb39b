#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for CI and for trying `fdm-bench run --executor slurm`:
#
#   scripts/slurm-local.sh up     # install (Debian 12 packages) if absent, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh down   # scontrol shutdown, stop munged
#
# Both are idempotent. Needs root and apt-get; works in a container without systemd (every daemon is
# started by hand). There is no accounting database: job states come from squeue/scontrol.
set -euo pipefail

readonly STATE_ROOT=${FDM_SLURM_ROOT:-/var/lib/fdm-bench-slurm}
readonly CONF=/etc/slurm/slurm.conf
# The first line of every slurm.conf this script writes: one without it is someone else's and is kept.
readonly MARKER='# written by fdm-bench scripts/slurm-local.sh'
readonly MUNGE_RUN=/run/munge
readonly UP_TIMEOUT_S=60

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: $*" >&2; exit 1; }

# True when the pid in file $1 is a live process named $2: not a pid reused after a restart, and not
# a zombie (without an init that reaps, a stopped daemon can linger as one).
daemon_running() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}

install_packages() {
  local missing=()
  for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null || missing+=("$bin")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]} and not root: install slurmctld slurmd slurm-client munge"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install slurmctld slurmd slurm-client munge"
  say "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts may try to start services; without systemd (a container) that fails harmlessly.
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  install -d -o munge -g munge -m 0755 "$MUNGE_RUN"
  if [ ! -s /etc/munge/munge.key ]; then
    # The package's postinst normally creates it; an image built without running it may lack it.
    runuser -u munge -- /usr/sbin/mungekey --create
  fi
  if daemon_running "$MUNGE_RUN/munged.pid" munged; then return; fi
  # munged refuses to run as root: it runs as the munge user, which owns its key and socket.
  runuser -u munge -- /usr/sbin/munged
  munge -n | unmunge >/dev/null || die "munged started but a credential does not round-trip"
}

write_conf() {
  if [ -f "$CONF" ] && [ "$(head -n 1 "$CONF")" != "$MARKER" ]; then
    die "$CONF exists and was not written by this script; not touching it"
  fi
  local host node
  host=$(hostname -s)
  # The node's CPUs, sockets, cores and memory as slurmd sees them (the first line; the second is uptime).
  node=$(slurmd -C | head -n 1)
  case "$node" in NodeName=*) ;; *) die "slurmd -C printed no NodeName line: $node" ;; esac
  install -d "$STATE_ROOT/state" "$STATE_ROOT/spool" "$STATE_ROOT/log" /etc/slurm
  local temp="$CONF.$$.tmp"
  cat >"$temp" <<EOF
$MARKER
ClusterName=fdm-bench-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$STATE_ROOT/state
SlurmdSpoolDir=$STATE_ROOT/spool
SlurmctldPidFile=$STATE_ROOT/slurmctld.pid
SlurmdPidFile=$STATE_ROOT/slurmd.pid
SlurmctldLogFile=$STATE_ROOT/log/slurmctld.log
SlurmdLogFile=$STATE_ROOT/log/slurmd.log
$node State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$temp" "$CONF"
}

# The state of this host's node as sinfo prints it (idle, mix, alloc, down, drain, ...), or nothing.
node_state() { sinfo -h -N -n "$(hostname -s)" -o '%t' 2>/dev/null | head -n 1; }

up() {
  install_packages
  start_munge
  write_conf
  daemon_running "$STATE_ROOT/slurmctld.pid" slurmctld || slurmctld
  daemon_running "$STATE_ROOT/slurmd.pid" slurmd || slurmd
  local waited=0 state
  while :; do
    state=$(node_state)
    case "$state" in
      idle | mix | alloc | comp) say "up: node $(hostname -s) is $state ($(sinfo --version))"; return ;;
      # A node left down or drained by an earlier session: ReturnToService=2 covers a restart, not a drain.
      down* | drain* | drng*) scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true ;;
    esac
    [ "$waited" -ge "$UP_TIMEOUT_S" ] && die "the node is not idle after ${UP_TIMEOUT_S}s (state '${state:-no answer}'); see $STATE_ROOT/log"
    sleep 1
    waited=$((waited + 1))
  done
}

# Waits until the daemon $2 of pid file $1 has exited (at most 30 s).
wait_exit() {
  local waited=0
  while daemon_running "$1" "$2" && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
  ! daemon_running "$1" "$2" || die "$2 did not stop"
}

# Sends TERM to the daemon $2 of pid file $1 if it runs, and waits until it has exited.
stop_daemon() {
  if daemon_running "$1" "$2"; then kill "$(cat "$1")" 2>/dev/null || true; fi
  wait_exit "$1" "$2"
}

down() {
  if daemon_running "$STATE_ROOT/slurmctld.pid" slurmctld; then
    # Stops slurmctld and every slurmd it knows.
    scontrol shutdown >/dev/null 2>&1 || true
    wait_exit "$STATE_ROOT/slurmctld.pid" slurmctld
  fi
  # A slurmd whose controller was already gone did not hear the shutdown.
  stop_daemon "$STATE_ROOT/slurmd.pid" slurmd
  stop_daemon "$MUNGE_RUN/munged.pid" munged
  say "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
