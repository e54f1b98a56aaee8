#!/usr/bin/env bash
# A caegen job on SLURM: one worker per node, each given the TF_CONFIG that names all the
# job's nodes and its own index. Worker 0 (the first node) is the chief and writes the run
# directory under --out, which should be on a file system the nodes share. Submitting the
# same script again after a failure continues the run from the last finished epoch.
#SBATCH --job-name=caegen
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=1
#SBATCH --time=04:00:00
set -euo pipefail

export CAEGEN_PORT=${CAEGEN_PORT:-23456}
export CAEGEN_HOSTS=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | paste -sd, -)

srun bash -c '
  export TF_CONFIG=$(python3 - <<PY
import json, os
hosts = [f"{h}:{os.environ['"'"'CAEGEN_PORT'"'"']}" for h in os.environ["CAEGEN_HOSTS"].split(",")]
print(json.dumps({"cluster": {"worker": hosts},
                  "task": {"type": "worker", "index": int(os.environ["SLURM_PROCID"])}}))
PY
)
  exec caegen train specs/cifar10_method2.yaml --out "$HOME/runs"
'
