#!/bin/bash
# Stops what start.sh DIR started: first every job of this private Slurm (slurmstepd
# and the job's processes outlive slurmd), then slurmd, slurmctld, and munged where
# start.sh started it, each by the pid in its pid file (never by name).
D=${1:?usage: stop.sh SCRATCH_DIR}
export SLURM_CONF=$D/slurm.conf
if [ -s "$D/slurmctld.pid" ] && kill -0 "$(cat "$D/slurmctld.pid")" 2>/dev/null; then
  jobs=$(squeue -h -o %i 2>/dev/null)
  if [ -n "$jobs" ]; then
    scancel $jobs 2>/dev/null
    for i in $(seq 1 50); do
      [ -z "$(squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi
for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
  p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill "$p" 2>/dev/null && echo "stopped $(basename "$f" .pid) $p"
done
# Wait (at most 5 s each) until they are gone, so that a next start finds the ports free.
for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
  p=$(cat "$f" 2>/dev/null) || continue
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
exit 0
