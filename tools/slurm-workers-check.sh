#!/usr/bin/env bash
# End-to-end check of scale-out on Slurm: one federated run whose phones are
# trained by `kbd-sim worker` processes in a Slurm job array must end with the
# same model as the same run trained in process.
#
#   KBD_SIM=.build/debug/kbd-sim tools/slurm-workers-check.sh
#
# Steps: start Slurm on this host (tools/slurm-local.sh) if it is not running;
# start `kbd-sim server --port 0` on 127.0.0.1; submit
# deploy/slurm/kbd-sim-workers.sbatch as an array of WORKERS tasks; drive the
# run with `kbd-sim run --server URL --remote-training --shard-size 4`; run the
# same configuration in process; compare the two `model sha256` values.
# Exits 0 if they are equal, 1 otherwise (and on any failure on the way).
# On every exit it cancels the array job, stops the server, and stops Slurm
# only if this script started it.
#
# Environment:
#   KBD_SIM          kbd-sim binary (default .build/debug/kbd-sim; a relative
#                    path is taken from the current folder, else the repository)
#   WORKERS          array size (default 2)
#   CPUS_PER_WORKER  --cpus-per-task of each worker (default 1)
#   EXIT_WHEN_IDLE   the workers' --exit-when-idle, seconds (default 120)
#   RUN_TIMEOUT      seconds allowed for each of the two runs (default 900)
#   START_TIMEOUT    seconds allowed for the server to listen (default 60)
#   QUEUE_TIMEOUT    seconds a worker task may wait in the queue behind other
#                    jobs (squeue reason Resources or Priority) before the
#                    check gives up (default 900)
#   LOCK_FILE        checks on one host take this lock in turn, so that two
#                    of them (two CI runs, say) never share the node or stop
#                    each other's Slurm (default /tmp/kbd-sim-slurm-check.lock)
#   LOCK_TIMEOUT     seconds to wait for that lock (default 900)
#   KEEP_TMP=1       keep the scratch folder after a passing check (it is
#                    always kept after a failing one)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SBATCH_SCRIPT=$ROOT/deploy/slurm/kbd-sim-workers.sbatch
SLURM_LOCAL=$ROOT/tools/slurm-local.sh
KBD_SIM=${KBD_SIM:-.build/debug/kbd-sim}
WORKERS=${WORKERS:-2}
CPUS_PER_WORKER=${CPUS_PER_WORKER:-1}
EXIT_WHEN_IDLE=${EXIT_WHEN_IDLE:-120}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
START_TIMEOUT=${START_TIMEOUT:-60}
QUEUE_TIMEOUT=${QUEUE_TIMEOUT:-900}
LOCK_FILE=${LOCK_FILE:-/tmp/kbd-sim-slurm-check.lock}
LOCK_TIMEOUT=${LOCK_TIMEOUT:-900}

# The run both sides train: small enough for a 2-core machine.
RUN_FLAGS=(--shard-size 4 --corpus synthetic --model lstm-tiny --vocab 200 --devices 2000
    --cohort 8 --rounds 3 --eval-every 3 --seed 5 --json)

say() { echo "slurm-workers-check: $*" >&2; }
die() {
    say "FAIL: $*"
    exit 1
}

# --- inputs -----------------------------------------------------------------
# A relative path is taken from the current folder, else from the repository.
case "$KBD_SIM" in
/*) ;;
*) if [ -e "$KBD_SIM" ] || [ ! -e "$ROOT/$KBD_SIM" ]; then KBD_SIM=$(pwd)/$KBD_SIM; else KBD_SIM=$ROOT/$KBD_SIM; fi ;;
esac
[ -x "$KBD_SIM" ] || die "KBD_SIM=$KBD_SIM is not an executable file (build it or set KBD_SIM)"
[ -f "$SBATCH_SCRIPT" ] || die "missing $SBATCH_SCRIPT"
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || die "WORKERS=$WORKERS is not a positive integer"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read the runs' JSON"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is needed"
command -v flock >/dev/null 2>&1 || die "flock (util-linux) is needed"

# One check at a time on this host: another one would share the node (its
# tasks would queue behind ours) and might stop the Slurm this one uses.
exec 9>>"$LOCK_FILE" || die "cannot open the lock file $LOCK_FILE (set LOCK_FILE)"
if ! flock -n 9; then
    say "another check holds $LOCK_FILE; waiting up to ${LOCK_TIMEOUT}s for it"
    flock -w "$LOCK_TIMEOUT" 9 || die "another check still held $LOCK_FILE after ${LOCK_TIMEOUT}s"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kbd-sim-slurm-check.XXXXXX")
chmod 0700 "$TMP"
SLURM_WAS_RUNNING=0
SLURM_STARTED=0
SERVER_PID=
DRIVER_PID=
JOB_ID=
PASSED=0

# shellcheck disable=SC2329 # run by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill -TERM "$DRIVER_PID" 2>/dev/null
        wait "$DRIVER_PID" 2>/dev/null
    fi
    if [ -n "$JOB_ID" ]; then
        say "cancelling array job $JOB_ID"
        scancel "$JOB_ID" 2>/dev/null
    fi
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        say "stopping the server (pid $SERVER_PID)"
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 40); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ "$SLURM_STARTED" -eq 1 ]; then
        # Let scancel's kill reach the tasks before slurmd goes away.
        for _ in $(seq 1 20); do
            [ -z "$(squeue -h -j "$JOB_ID" 2>/dev/null)" ] && break
            sleep 0.5
        done
        say "stopping Slurm (this check started it)"
        "$SLURM_LOCAL" stop >/dev/null 2>&1
    elif [ "$SLURM_WAS_RUNNING" -eq 1 ]; then
        say "leaving Slurm running (it was running before)"
    fi
    if [ "$PASSED" -eq 1 ] && [ "${KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$TMP"
    else
        say "logs kept in $TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- (a) Slurm ----------------------------------------------------------------
if "$SLURM_LOCAL" status >/dev/null 2>&1; then
    SLURM_WAS_RUNNING=1
    say "Slurm is running"
else
    say "starting Slurm (tools/slurm-local.sh start)"
    SLURM_STARTED=1
    # 9>&-: the daemons must not inherit (and so hold) the lock.
    "$SLURM_LOCAL" start 9>&- || die "tools/slurm-local.sh start failed"
fi

# --- (b) the coordinator --------------------------------------------------------
DB=$TMP/server.sqlite
TOKEN_FILE=$DB.token
"$KBD_SIM" server --port 0 --db "$DB" >"$TMP/server.out" 2>"$TMP/server.err" 9>&- &
SERVER_PID=$!
URL=
for _ in $(seq 1 $((START_TIMEOUT * 4))); do
    URL=$(grep -o -m1 'listening on http://[^[:space:]]*' "$TMP/server.err" 2>/dev/null | sed 's/^listening on //') || true
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$TMP/server.err" >&2
        die "the server exited before it listened (its stderr is above)"
    }
    sleep 0.25
done
[ -n "$URL" ] || die "the server did not print 'listening on http://…' within ${START_TIMEOUT}s; see $TMP/server.err"
[ -s "$TOKEN_FILE" ] || die "the server listens at $URL but wrote no token to $TOKEN_FILE"
say "server listening at $URL (pid $SERVER_PID), token in $TOKEN_FILE"

# --- (c) the workers --------------------------------------------------------------
JOB_ID=$(COORDINATOR=$URL TOKEN_FILE=$TOKEN_FILE KBD_SIM=$KBD_SIM EXIT_WHEN_IDLE=$EXIT_WHEN_IDLE \
    sbatch --parsable --array=0-$((WORKERS - 1)) --cpus-per-task="$CPUS_PER_WORKER" \
    --chdir="$TMP" --output="$TMP/worker-%A_%a.out" --job-name=kbd-sim-check-workers \
    "$SBATCH_SCRIPT") || die "sbatch failed"
JOB_ID=${JOB_ID%%;*}
say "submitted array job $JOB_ID ($WORKERS workers, $CPUS_PER_WORKER CPUs each)"

show_worker_logs() {
    local f
    for f in "$TMP"/worker-*.out; do
        [ -e "$f" ] || continue
        echo "----- $(basename "$f") (last 20 lines)" >&2
        tail -n 20 "$f" >&2
    done
}

# Array tasks still known to Slurm (pending or running).
tasks_left() { squeue -h -j "$JOB_ID" -r -o %i 2>/dev/null | wc -l; }
tasks_running() { squeue -h -j "$JOB_ID" -r -t RUNNING -o %i 2>/dev/null | wc -l; }

# A task may queue behind other jobs on a busy cluster; wait for it as long as
# Slurm says it is waiting for resources, and report why it waits.
started=0
waited=0
reason=
while [ "$waited" -lt $((QUEUE_TIMEOUT * 2)) ]; do
    if [ "$(tasks_running)" -gt 0 ]; then
        started=1
        break
    fi
    if [ "$(tasks_left)" -eq 0 ]; then
        show_worker_logs
        die "every worker task ended before the run started (logs above)"
    fi
    now=$(squeue -h -j "$JOB_ID" -r -t PENDING -o %r 2>/dev/null | sort -u | paste -sd, -) || true
    if [ -n "$now" ] && [ "$now" != "$reason" ]; then
        reason=$now
        say "worker tasks pending (squeue reason: $reason)"
    fi
    sleep 0.5
    waited=$((waited + 1))
done
if [ "$started" -eq 0 ]; then
    squeue -j "$JOB_ID" -r >&2 || true
    squeue >&2 || true
    die "no worker task was running after ${QUEUE_TIMEOUT}s (the queue is above; set QUEUE_TIMEOUT to wait longer)"
fi
say "$(tasks_running) of $WORKERS worker tasks running"

# model_hash FILE: summary."model sha256" of a run's --json output.
model_hash() {
    python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print(doc["summary"]["model sha256"])' "$1"
}

# --- (d) the run, trained by the workers -----------------------------------------
say "driving the run over HTTP with remote training (timeout ${RUN_TIMEOUT}s)"
timeout "$RUN_TIMEOUT" "$KBD_SIM" run --server "$URL" --token-file "$TOKEN_FILE" --remote-training \
    "${RUN_FLAGS[@]}" >"$TMP/remote.json" 2>"$TMP/remote.err" &
DRIVER_PID=$!
# Watch the workers while the driver runs: if they all end first, the run
# cannot finish, so stop waiting.
while kill -0 "$DRIVER_PID" 2>/dev/null; do
    if [ "$(tasks_left)" -eq 0 ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        sleep 2
        if kill -0 "$DRIVER_PID" 2>/dev/null; then
            show_worker_logs
            die "every worker ended while the run was still going (worker logs above; driver log $TMP/remote.err)"
        fi
    fi
    sleep 1
done
set +e
wait "$DRIVER_PID"
driver_rc=$?
set -e
DRIVER_PID=
if [ "$driver_rc" -ne 0 ]; then
    tail -n 30 "$TMP/remote.err" >&2
    show_worker_logs
    [ "$driver_rc" -eq 124 ] && die "the remote run did not finish within ${RUN_TIMEOUT}s"
    die "the remote run exited with status $driver_rc (its stderr is above)"
fi
REMOTE_HASH=$(model_hash "$TMP/remote.json") || die "no summary.\"model sha256\" in $TMP/remote.json"

# --- (e) the same run in process ------------------------------------------------
say "running the same configuration in process (timeout ${RUN_TIMEOUT}s)"
timeout "$RUN_TIMEOUT" "$KBD_SIM" run --db "$TMP/local.sqlite" "${RUN_FLAGS[@]}" \
    >"$TMP/local.json" 2>"$TMP/local.err" || {
    rc=$?
    tail -n 30 "$TMP/local.err" >&2
    die "the in-process run exited with status $rc (its stderr is above)"
}
LOCAL_HASH=$(model_hash "$TMP/local.json") || die "no summary.\"model sha256\" in $TMP/local.json"

# --- (f) compare ------------------------------------------------------------------
echo "remote (Slurm workers) model sha256: $REMOTE_HASH"
echo "in-process            model sha256: $LOCAL_HASH"
if [ "$REMOTE_HASH" = "$LOCAL_HASH" ]; then
    PASSED=1
    echo "PASS: the run trained by $WORKERS Slurm workers equals the in-process run"
    exit 0
fi
show_worker_logs
echo "FAIL: the final models differ"
exit 1
