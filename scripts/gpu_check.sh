#!/usr/bin/env bash
# The prepared GPU run: what nobody has measured on a GPU yet, in about 30 minutes on one GPU.
#
#   bash scripts/gpu_check.sh            # from the repository root, on a machine with CUDA and torch
#
# 1. the GPU tests (bf16 autocast training, CUDA checkpoints loading on the CPU, the penalty in bf16);
# 2. the throughput of the four arms on CUDA (bf16 autocast), and EQ-Reg's cost over augmentation;
# 3. a longer zoo build under a time cap, into /tmp (the shipped zoo is not touched), to see how far
#    the recipe gets with a GPU's budget;
# 4. each named recipe (eqlab/recipes) for 3 minutes on a generated folder: images/s and GPU memory;
# 5. swinir-sr-x2's first 200 steps as written (batch 32, bf16): images/s and peak memory beside --dry-run's estimate.
# Each part has its own time cap, so one that hangs cannot take the others down; everything is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
echo "== 1. GPU tests"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_train.py tests/test_checkpoint.py tests/test_regularizer.py
echo "== 2. throughput (bf16 autocast) and the penalty's cost"
timeout 120 python3 benchmarks/train_throughput.py --device cuda --steps 80 --warmup 20 --rounds 3 --features 32 --depth 8
timeout 120 python3 benchmarks/reg_overhead.py --device cuda --threads 1 --rounds 20
echo "== 3. a longer zoo build (capped at 4 minutes, written to /tmp/zoo-gpu)"
timeout 240 python3 scripts/build_zoo.py --device cuda --workers 1 --steps 2000 --out /tmp/zoo-gpu --cache /tmp/zoo-gpu-cache --keep-stalled
echo "== 4. the named recipes as written (SwinIR 6x6 blocks, 180 channels; needs spandrel), 3 minutes each on a generated folder"
timeout 900 python3 scripts/recipe_check.py --minutes 3 swinir-sr-x2 swinir-denoise-color-50
echo "== 5. swinir-sr-x2: its first 200 steps (capped at 10 minutes), throughput and peak memory against the estimate"
timeout 600 python3 scripts/recipe_check.py --steps 200 --minutes 9 --estimate swinir-sr-x2
echo "== done"
