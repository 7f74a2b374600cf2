#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the sweep's Slurm executor and
# its tests (as root, without systemd; Debian's slurmctld, slurmd, munge 22.05):
#   slurm-one-node.sh start   installs the packages if missing (apt), sets up
#                             munge, writes /etc/slurm/slurm.conf (only if it is
#                             absent or was written by this script), starts
#                             munged, slurmctld and slurmd, waits for the node
#   slurm-one-node.sh stop    stops the three daemons by their pid files
# A real cluster needs none of this: see docs/runs.md.
set -euo pipefail

MARK='# written by normlab packages/lab/scripts/slurm-one-node.sh'
CONF=/etc/slurm/slurm.conf
STATE=/var/lib/normlab-slurm

stop() {
  for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
    fi
  done
}

start() {
  if [ "$(id -u)" != 0 ]; then echo "slurm-one-node: run as root (it installs packages and starts daemons)" >&2; exit 1; fi
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  fi
  stop
  # munge: its key comes with the package; the daemon runs as the munge user.
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
  su -s /bin/sh munge -c /usr/sbin/munged
  munge -n | unmunge >/dev/null

  host="$(hostname -s)"
  cpus="$(nproc)"
  # RealMemory below what the machine has, in MiB.
  mem="$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 * 9 / 10 ))"
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" /var/log/slurm
  if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARK"; then
    echo "slurm-one-node: $CONF exists and was not written by this script; leaving it as it is" >&2
  else
    cat > "$CONF" <<CONFEOF
$MARK
ClusterName=normlab
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFEOF
  fi
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm-one-node: $host up ($cpus CPUs, partition debug)"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm-one-node: the node did not come up; sinfo says: $(sinfo 2>&1 | tr '\n' ' ')" >&2
  tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
