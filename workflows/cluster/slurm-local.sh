#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, with accounting, to try the workflow's cluster path
# (workflows/profiles/slurm) without a cluster:
#
#   sudo workflows/cluster/slurm-local.sh start    # installs what is missing (apt-get), starts it
#   workflows/cluster/slurm-local.sh status        # sinfo / squeue / sacct and the daemons
#   sudo workflows/cluster/slurm-local.sh stop     # cancels its jobs, stops every daemon it started
#
# What `start` does (each step skipped when already done, so starting twice is harmless):
#   - apt-get install slurm-wlm slurmdbd munge mariadb-server when one of them is missing
#     (Debian 12: SLURM 22.05, MariaDB 10.11);
#   - munged with /etc/munge/munge.key (created when missing);
#   - a MariaDB server of its own (data under $STATE/mysql, listening on 127.0.0.1:$DB_PORT only)
#     holding the accounting database; slurmdbd in front of it. The executor plugin learns job
#     states from `sacct`, which needs accounting: without it a workflow never sees a job finish;
#   - slurm.conf for this machine: one node with `nproc` CPUs and the memory `free -m` reports
#     (less $RESERVE_MB for the system), one partition `local` (the default);
#   - slurmctld and slurmd, then waits until the node is idle; an account `neuromod` with this
#     user in it (jobs need no account: none is enforced).
# Daemons run without systemd (containers have none), their pid files and logs under $STATE.
# /etc/slurm/slurm.conf and slurmdbd.conf are written only when absent or written by this script
# (first line marker): a machine with its own SLURM configuration is refused, not overwritten.
set -euo pipefail

STATE=${NEUROMOD_SLURM_STATE:-/var/lib/neuromod-slurm}
DB_PORT=${NEUROMOD_SLURM_DB_PORT:-3307}
RESERVE_MB=${NEUROMOD_SLURM_RESERVE_MB:-1024}
ETC=/etc/slurm
MARK="# written by neuromod workflows/cluster/slurm-local.sh"
HOST=$(hostname -s)
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

alive() {  # alive PIDFILE: the process named in the pid file runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local t=$1 what=$2; shift 2
    for ((i = 0; i < t * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "$what did not come up within ${t}s (logs: $STATE/log)"
}

stop_pid() {  # stop_pid NAME PIDFILE: TERM, wait up to 30 s, then KILL
    local name=$1 pidfile=$2 pid
    if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
    pid=$(cat "$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.25
    done
    log "$name did not stop in 30 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "missing packages ${missing[*]}: run as root to install them"
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    # policy-rc.d in containers keeps the packages from starting their own services; without it
    # Debian starts them: they are stopped below, this script runs its own
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ours_or_absent() {  # ours_or_absent FILE
    [[ ! -e $1 ]] || head -n1 "$1" | grep -qF "$MARK" \
        || die "$1 exists and was not written by this script: not touching this machine's SLURM"
}

write_configs() {
    local cpus mem
    cpus=$(nproc)
    mem=$(free -m | awk '/^Mem:/ {print $2}')
    mem=$((mem - RESERVE_MB))
    ours_or_absent "$ETC/slurm.conf"
    ours_or_absent "$ETC/slurmdbd.conf"
    mkdir -p "$ETC" "$STATE"/{log,run,ctld,spool}
    chown slurm:slurm "$STATE"/{log,run,ctld}
    cat >"$ETC/slurm.conf" <<CONF
$MARK
# one node: $cpus CPUs (nproc), ${mem} MB (free -m total less ${RESERVE_MB} MB for the system)
ClusterName=neuromod-local
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
MailProg=/bin/true
KillWait=10
MinJobAge=60
InactiveLimit=0
Waittime=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
    [[ -s $STATE/dbpass ]] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$STATE/dbpass")
    (umask 077; cat >"$ETC/slurmdbd.conf" <<CONF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$STATE/dbpass")
StorageLoc=slurm_acct_db
CONF
    )
    chown slurm:slurm "$ETC/slurmdbd.conf"
    chmod 600 "$ETC/slurmdbd.conf"
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    log "starting munged"
    runuser -u munge -- munged --force
    wait_for 15 munged sh -c 'munge -n | unmunge'
    cp /run/munge/munged.pid "$STATE/run/munged.pid"  # stop stops only the munged started here
}

mysql_root() { mariadb --no-defaults --protocol=socket -S "$STATE/run/mysqld.sock" -u root "$@"; }

start_mariadb() {
    local data=$STATE/mysql
    if [[ ! -d $data/mysql ]]; then
        log "initialising MariaDB in $data"
        mkdir -p "$data"
        chown mysql:mysql "$data"
        mariadb-install-db --no-defaults --user=mysql --datadir="$data" \
            --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1
    fi
    chown mysql:mysql "$STATE/run"  # socket and pid file
    if ! alive "$STATE/run/mysqld.pid"; then
        log "starting MariaDB (127.0.0.1:$DB_PORT)"
        setsid mariadbd --no-defaults --user=mysql --datadir="$data" \
            --socket="$STATE/run/mysqld.sock" --pid-file="$STATE/run/mysqld.pid" \
            --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
            --innodb-buffer-pool-size=64M --log-error="$STATE/log/mariadb.log" \
            </dev/null >/dev/null 2>&1 &
        wait_for 60 MariaDB mysql_root -e "SELECT 1"
    fi
    chown slurm:slurm "$STATE/run"
    chmod 755 "$STATE/run"
    local pass
    pass=$(cat "$STATE/dbpass")
    mysql_root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
}

start_slurm() {
    if ! alive "$STATE/run/slurmdbd.pid"; then
        log "starting slurmdbd"
        slurmdbd
        wait_for 60 slurmdbd sacctmgr -n show cluster
    fi
    sacctmgr -i add cluster neuromod-local >/dev/null 2>&1 || true
    if ! alive "$STATE/run/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld
        wait_for 60 slurmctld scontrol ping
    fi
    if ! alive "$STATE/run/slurmd.pid"; then
        log "starting slurmd"
        slurmd
    fi
    wait_for 60 "node $HOST" sh -c "sinfo -h -n $HOST -o %T | grep -Eq '^(idle|mixed|allocated)'"
    sacctmgr -i add account neuromod Description=neuromod Organization=local >/dev/null 2>&1 || true
    sacctmgr -i add user "${SUDO_USER:-$(id -un)}" Account=neuromod >/dev/null 2>&1 || true
    [[ ${SUDO_USER:-root} == root ]] || sacctmgr -i add user root Account=neuromod >/dev/null 2>&1 || true
}

cmd_start() {
    [[ $(id -u) == 0 ]] || die "start needs root (it installs packages and starts daemons)"
    local t0=$SECONDS
    install_missing
    mkdir -p "$STATE"
    write_configs
    start_munge
    start_mariadb
    start_slurm
    log "up in $((SECONDS - t0)) s: partition local, node $HOST ($(nproc) CPUs); try: sinfo; srun hostname"
}

cmd_stop() {
    [[ $(id -u) == 0 ]] || die "stop needs root"
    if alive "$STATE/run/slurmctld.pid"; then
        # every job of this one-node cluster: cancelled, so no slurmstepd outlives slurmd
        scancel --full --state=PENDING,RUNNING,SUSPENDED >/dev/null 2>&1 || scancel -u "$(id -un)" || true
        for ((i = 0; i < 60; i++)); do
            [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    stop_pid slurmd "$STATE/run/slurmd.pid"
    stop_pid slurmctld "$STATE/run/slurmctld.pid"
    stop_pid slurmdbd "$STATE/run/slurmdbd.pid"
    stop_pid mariadbd "$STATE/run/mysqld.pid"
    stop_pid munged "$STATE/run/munged.pid"
    local left
    left=$(ps -eo pid=,comm= | awk '$2 ~ /^(slurmd|slurmctld|slurmdbd|slurmstepd|mariadbd|munged)$/ {print $1}')
    if [[ -n $left ]]; then
        log "still running: $(ps -o pid=,comm= -p ${left//$'\n'/,} | tr '\n' ' ')"
        exit 1
    fi
    log "stopped: no SLURM, MariaDB or munge daemon left"
}

cmd_status() {
    local rc=0
    for d in munged mysqld slurmdbd slurmctld slurmd; do  # started by this script
        if alive "$STATE/run/$d.pid"; then
            printf '%-10s running (pid %s)\n' "$d" "$(cat "$STATE/run/$d.pid")"
        else
            printf '%-10s stopped\n' "$d"; rc=1
        fi
    done
    if command -v sinfo >/dev/null && sinfo >/dev/null 2>&1; then
        echo "--- sinfo";   sinfo -N -o '%N %P %T %c %m'
        echo "--- squeue";  squeue
        echo "--- sacct (jobs since midnight)"
        sacct -X -S "$(date +%F)" -o JobID,JobName%30,Partition,Account,State,Elapsed,ExitCode | tail -n 20
    else
        echo "sinfo does not answer: the cluster is not running"; rc=1
    fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
