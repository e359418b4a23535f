#!/bin/bash
# Starts a single-node Slurm (munged, slurmctld, slurmd) for the gateway's slurm tests,
# without systemd, as root. Installs Debian's slurm-wlm and munge where sbatch is
# missing. Usage: start.sh DIR   (then export SLURM_CONF=DIR/slurm.conf; stop with stop.sh DIR)
# Every daemon this script starts has its pid in DIR, so stop.sh ends exactly those.
set -e
D=${1:?usage: start.sh SCRATCH_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >&2
fi
mkdir -p "$D"/{state,spool,log,jobs} /run/munge
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 / 2 ))
sed -e "s#@DIR@#$D#g" -e "s#@HOST@#$(hostname -s)#g" -e "s#@CPUS@#$(nproc)#g" -e "s#@MEM_MB@#$MEM_MB#g" \
    -e "s#@CTLD_PORT@#${SLURMCTLD_PORT:-16817}#g" -e "s#@SLURMD_PORT@#${SLURMD_PORT:-16818}#g" \
    "$HERE/slurm.conf.in" > "$D/slurm.conf"
export SLURM_CONF=$D/slurm.conf
chown munge:munge /run/munge; chmod 755 /run/munge
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
# munged refuses to run as root; one already running (another test, the host) is shared
# and left alone.
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
  # munged (user munge) cannot write into DIR; copy its pid so stop.sh can end it.
  for i in $(seq 1 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$D/munged.pid"
fi
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for i in $(seq 1 150); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && { echo "slurm ready: SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.2
done
echo "slurm did not become idle within 30 s:" >&2
sinfo >&2 || true
tail -n 20 "$D"/log/*.log >&2 || true
exit 1
