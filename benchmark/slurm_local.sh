#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, to try `benchmark/run.py --slurm --submit` without a cluster
# (and what tests/test_slurm.py runs against). Debian's slurm-wlm and munge, started as plain daemons (no
# systemd), everything in one folder: its own munge key and socket, slurm.conf, state, logs. Needs root.
#
#   sudo benchmark/slurm_local.sh install   # apt-get install slurmctld slurmd slurm-client munge
#   sudo benchmark/slurm_local.sh start     # munged, slurmctld, slurmd; waits until the node is idle
#   export SLURM_CONF=/tmp/ppo-slurm/slurm.conf   # what `start` prints: the Slurm commands read it
#   python benchmark/run.py --suite classic --envs CartPole --seeds 1 2 --total-timesteps 200000 \
#       --settings ppo_discrete --slurm --mem 1G --submit
#   squeue; cat benchmark/runs/classic/slurm/*.out
#   sudo benchmark/slurm_local.sh stop      # cancels what is left of the jobs, stops the three daemons
#
# Settings, from the environment: PPO_SLURM_DIR (the folder, default /tmp/ppo-slurm) and PPO_SLURM_PORT
# (slurmctld's port, default 16817; slurmd takes the next), so that it never meets a real cluster's
# configuration or ports. `stop` ends only the daemons whose pid files are in that folder.
set -euo pipefail

export PATH=$PATH:/usr/sbin:/sbin # the daemons live there, not always on a user's PATH
DIR=${PPO_SLURM_DIR:-/tmp/ppo-slurm}
PORT=${PPO_SLURM_PORT:-16817}
SOCKET=$DIR/munge/munge.socket.2
export SLURM_CONF=$DIR/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)

die() {
    echo "slurm_local.sh: error: $*" >&2
    exit 1
}

alive() { # pid file, program -> true while that program runs with that pid (not a pid reused by
    # another program since; nor a zombie: in a container nobody may reap it)
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
    ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}

dead() { ! alive "$@"; }

munge_answers() { munge -n -S "$SOCKET" | unmunge -S "$SOCKET"; }

node_idle() { sinfo -h -o %t | grep -qx idle; }

no_jobs() { [[ -z $(squeue -h -o %A) ]]; }

wait_for() { # seconds, description, command...: poll the command until it succeeds
    local seconds=$1 what=$2
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not happen within $seconds s; see the logs in $DIR"
}

installed() {
    local exe
    for exe in munged mungekey munge unmunge slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
        command -v "$exe" >/dev/null || return 1
    done
}

install() {
    if installed; then
        echo "slurm_local.sh: Slurm and munge are installed"
        return
    fi
    [[ $(id -u) == 0 ]] || die "install needs root: sudo $0 install"
    command -v apt-get >/dev/null || die "no apt-get here; install Slurm (slurmctld, slurmd, sbatch) and munge by hand"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

write_config() {
    local host node
    host=$(hostname -s)
    # slurmd -C describes this machine (CPUs, sockets, cores, memory) as slurm.conf wants it.
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
    cat >"$SLURM_CONF" <<EOF
# Written by benchmark/slurm_local.sh: a one-node cluster on $host.
ClusterName=ppo-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# No cgroups (containers, CI): processes are tracked by their parents, and no task plugin confines them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# No accounting daemon: squeue is what run.py asks, sacct is not available here.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=30
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [[ $(id -u) == 0 ]] || die "start needs root (slurmd runs jobs as their users): sudo $0 start"
    installed || die "Slurm or munge is missing; install them first: sudo $0 install"
    if alive "$DIR/slurmctld.pid" slurmctld; then
        echo "slurm_local.sh: already running in $DIR"
        print_usage
        return
    fi
    mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool"
    chmod 755 "$DIR" "$DIR/munge" # any local user may reach the socket; the key stays root's
    [[ -f $DIR/munge/munge.key ]] || mungekey --create --keyfile="$DIR/munge/munge.key"
    alive "$DIR/munge/munged.pid" munged || munged --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    wait_for 10 "munged answering on $SOCKET" munge_answers
    write_config
    slurmctld -f "$SLURM_CONF"
    wait_for 30 "slurmctld answering" scontrol ping
    slurmd -f "$SLURM_CONF"
    wait_for 60 "the node becoming idle" node_idle
    echo "slurm_local.sh: a one-node Slurm runs in $DIR ($(sinfo -h -o '%N, %c CPUs, %m MB'))"
    print_usage
}

print_usage() {
    echo "slurm_local.sh: its commands need: export SLURM_CONF=$SLURM_CONF"
    echo "slurm_local.sh: stop it with: $0 stop"
}

stop() {
    if alive "$DIR/slurmctld.pid" slurmctld; then
        # Jobs left running would outlive slurmd (their slurmstepd is a daemon of its own): cancel them.
        local jobs
        mapfile -t jobs < <(squeue -h -o %A 2>/dev/null || true)
        ((${#jobs[@]} == 0)) || scancel "${jobs[@]}"
        wait_for 60 "the jobs ending" no_jobs
    fi
    local name
    for name in slurmd slurmctld munge/munged; do
        if alive "$DIR/$name.pid" "${name#*/}"; then
            kill "$(cat "$DIR/$name.pid")"
            wait_for 30 "${name#*/} stopping" dead "$DIR/$name.pid" "${name#*/}"
        fi
    done
    echo "slurm_local.sh: stopped (its files stay in $DIR)"
}

status() {
    local name
    for name in munge/munged slurmctld slurmd; do
        if alive "$DIR/$name.pid" "${name#*/}"; then
            echo "${name#*/}: running (pid $(cat "$DIR/$name.pid"))"
        else
            echo "${name#*/}: not running"
        fi
    done
    if alive "$DIR/slurmctld.pid" slurmctld; then sinfo && squeue; fi
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 install|start|stop|status (a one-node Slurm on this machine; see the top of this file)" ;;
esac
