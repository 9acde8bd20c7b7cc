#!/usr/bin/env bash
# Run a one-host Slurm cluster (controller and node on this machine) for
# testing kbd-sim's Slurm workers: tools/slurm-local.sh start|stop|status.
#
# start   installs Debian's slurm-wlm and munge if missing (apt-get, needs root),
#         writes slurm.conf, creates the munge key once, starts munged (as the
#         munge user), slurmctld and slurmd (as root), and waits until sinfo
#         shows the node idle. Safe to run twice.
# stop    stops slurmd, slurmctld and munged by the pids in their pid files.
#         Safe when nothing runs.
# status  prints each daemon's state and the node's; exits 0 only if all three
#         daemons run.
#
# Environment:
#   KBD_SIM_SLURM_DIR        scratch folder for state, spool, logs and pid files
#                            (default /tmp/kbd-sim-slurm)
#   KBD_SIM_SLURM_TIMEOUT    seconds to wait for the node to be idle (default 90)
#
# Slurm's clients (sinfo, sbatch, srun, scancel) read /etc/slurm/slurm.conf, so
# this script writes the configuration there, and only if that file is absent
# or was written by this script (it carries the marker line below). It talks to
# the daemons on 127.0.0.1 only.
set -euo pipefail

DIR=${KBD_SIM_SLURM_DIR:-/tmp/kbd-sim-slurm}
TIMEOUT=${KBD_SIM_SLURM_TIMEOUT:-90}
CONF=/etc/slurm/slurm.conf
MARKER="# written by kbd-sim tools/slurm-local.sh"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=$DIR/run/munged.pid
CTLD_PID=$DIR/run/slurmctld.pid
SLURMD_PID=$DIR/run/slurmd.pid

log() { echo "slurm-local: $*" >&2; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (slurmctld and slurmd run as root here; try sudo)"
}

# The pid in FILE if that process is alive and is the daemon the file is named
# after (munged.pid: munged), else nothing and status 1. A pid file left by a
# crash whose pid now belongs to another process counts as not running.
live_pid() {
    local file=$1 pid name
    name=$(basename "$file" .pid)
    [ -s "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    echo "$pid"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
    command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
    command -v munged >/dev/null 2>&1 || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends slurm-wlm munge >"$DIR/log/apt.log" 2>&1; then
        # A stale package list is the usual cause: refresh once and retry.
        apt-get update -q >>"$DIR/log/apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends slurm-wlm munge >>"$DIR/log/apt.log" 2>&1 \
            || die "apt-get install slurm-wlm munge failed; see $DIR/log/apt.log"
    fi
    for b in slurmctld slurmd sbatch sinfo munged; do
        command -v "$b" >/dev/null 2>&1 || die "$b still missing after installing slurm-wlm and munge"
    done
}

write_conf() {
    local host cpus mem_kb mem_mb tmp
    host=$(hostname -s)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    [ -n "$mem_kb" ] || die "cannot read MemTotal from /proc/meminfo"
    mem_mb=$((mem_kb / 1024))
    if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; move it away to use tools/slurm-local.sh"
    fi
    mkdir -p /etc/slurm
    tmp=$(mktemp "$CONF.XXXXXX")
    cat >"$tmp" <<EOF
$MARKER (scratch folder $DIR)
# One host: the controller and the only compute node are this machine.
ClusterName=kbdsim
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
# No cgroups here: track processes by parent pid, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    mv -f "$tmp" "$CONF"
}

start_munge() {
    if live_pid "$MUNGE_PID" >/dev/null; then
        log "munged already running (pid $(live_pid "$MUNGE_PID"))"
        return 0
    fi
    id munge >/dev/null 2>&1 || die "user munge missing (the munge package creates it)"
    if [ ! -s "$MUNGE_KEY" ]; then
        log "creating $MUNGE_KEY"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null 2>&1; then
            mungekey -c -k "$MUNGE_KEY"
        else
            create-munge-key -f
        fi
    fi
    chown munge:munge /etc/munge "$MUNGE_KEY"
    chmod 0700 /etc/munge
    chmod 0400 "$MUNGE_KEY"
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    chmod 0700 /var/lib/munge /var/log/munge
    # munged writes its pid file as the munge user.
    touch "$MUNGE_PID"
    chown munge:munge "$MUNGE_PID"
    runuser -u munge -- munged --pid-file="$MUNGE_PID" --force \
        || die "munged did not start; see /var/log/munge/munged.log"
    wait_for "munged" 20 munge_ok
    log "munged running (pid $(live_pid "$MUNGE_PID"))"
}

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

# wait_for NAME SECONDS COMMAND...: retry COMMAND every half second.
wait_for() {
    local name=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 2; i++)); do
        "$@" && return 0
        sleep 0.5
    done
    return 1
}

start_daemon() {
    local name=$1 pidfile=$2 logfile=$3
    shift 3
    if live_pid "$pidfile" >/dev/null; then
        log "$name already running (pid $(live_pid "$pidfile"))"
        return 0
    fi
    rm -f "$pidfile"
    "$name" -f "$CONF" "$@" >>"$logfile" 2>&1 || die "$name failed to start; see $logfile"
    wait_for "$name" 20 live_pid "$pidfile" >/dev/null \
        || die "$name wrote no live pid to $pidfile; see $logfile"
    log "$name running (pid $(live_pid "$pidfile"))"
}

node_state() { sinfo -h -N -n "$(hostname -s)" -o %t 2>/dev/null | head -n1; }
# Ready once the node takes jobs. A node left down or drained in the state
# folder by an earlier session is resumed.
node_idle() {
    local state
    state=$(node_state)
    case "$state" in
    idle | mix | alloc) return 0 ;;
    down* | drain* | drng* | fail*)
        scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
        return 1
        ;;
    *) return 1 ;;
    esac
}

do_start() {
    need_root
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
    install_packages
    write_conf
    start_munge
    # With slurmd down no job of an earlier session can still be running, yet
    # the state folder may list some as running (a session that ended without
    # `stop`); they would hold the node's CPUs forever. -c starts the
    # controller without them.
    local clear=()
    live_pid "$SLURMD_PID" >/dev/null || clear=(-c)
    start_daemon slurmctld "$CTLD_PID" "$DIR/log/slurmctld.log" "${clear[@]}"
    start_daemon slurmd "$SLURMD_PID" "$DIR/log/slurmd.log"
    if ! wait_for node "$TIMEOUT" node_idle; then
        die "node $(hostname -s) not idle after ${TIMEOUT}s (state: '$(node_state)'); see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
    fi
    log "ready: node $(hostname -s) is $(node_state), $(nproc) CPUs (sinfo, sbatch and srun work now)"
}

stop_pid() {
    local name=$1 pidfile=$2 pid i
    if ! pid=$(live_pid "$pidfile"); then
        log "$name not running"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    log "$name stopped (pid $pid)"
}

do_stop() {
    need_root
    stop_pid slurmd "$SLURMD_PID"
    stop_pid slurmctld "$CTLD_PID"
    stop_pid munged "$MUNGE_PID"
}

do_status() {
    local rc=0 name file pid
    for pair in munged:"$MUNGE_PID" slurmctld:"$CTLD_PID" slurmd:"$SLURMD_PID"; do
        name=${pair%%:*}
        file=${pair#*:}
        if pid=$(live_pid "$file"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: stopped"
            rc=1
        fi
    done
    if [ $rc -eq 0 ]; then
        echo "node $(hostname -s): $(node_state)"
    fi
    return $rc
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
