#!/usr/bin/env bash
# The GPU work that issue 16 still needs, as one call of the device tool (about 8 minutes of a
# 15-minute session), prepared and checked on a CPU so that a session lent a GPU spends its time
# training, not setting up:
#
# - the reference recipes' table at one budget: every recipe and task of train_references.py at
#   once, each its own process sharing the GPU for MINUTES (small 3D networks leave most of an
#   H100 idle alone), so the rows compare recipes trained for thousands of steps, not hundreds;
# - beside them, the robust x2 model's stage 4 (`mni_x2_iso_full_consistency`) continued from the
#   shipped file at batch 16 for the same minutes: the x2 nominal MNI and real-head goals;
# - then quality.py on everything trained. $OUT/gpu_session.tar brings back the table, the logs,
#   the run records and the x2 model (float16), to score here with generalisation.py.
#
#   bash benchmarks/gpu_session.sh wheels        # here, once: the wheels the device image lacks, in .whl/
#   device run: command "bash benchmarks/gpu_session.sh", carry [".whl"], timeout_s 590
#   MINUTES=0.1 OUT=/tmp/gpu bash benchmarks/gpu_session.sh   # plumbing check on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = wheels ]; then  # the packages the device image lacks (its README), for its Python
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    for p in nibabel monai nilearn pydantic pydantic-core annotated-types typing-inspection platformdirs; do
        v=$(python3 -m pip show "$p" | sed -n 's/^Version: //p')  # the versions tested here
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" \
            --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "$p==$v" || exit
    done
    exit 0
fi

MINUTES=${MINUTES:-5}
ROOT=$PWD
OUT=${OUT:-$ROOT/runs/gpu_session}
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then  # the device machine: its torch, lightning and scipy, these wheels, and this tree
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit
    export PYTHONPATH=/tmp/site
    mkdir -p /tmp/gpu_work && cd /tmp/gpu_work || exit  # so ./napari_mrisr, without its training/, is not imported
fi
RUNS=$PWD/runs/gpu
python3 -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
rm -rf "$RUNS" && mkdir -p "$RUNS/logs" "$OUT" || exit
clock=$(python3 -c "s = round($MINUTES * 60); print(f'00:00:{s // 60:02d}:{s % 60:02d}')")

for task in x2 x4; do
    for recipe in srgan3d_lsgan edsr3d_mse rrdb3d_patch dcsrn_wgan_gp srgan2d; do
        [ "$task$recipe" = x2srgan2d ] && continue  # slice-wise srgan2d is through-plane only
        python3 "$ROOT/benchmarks/train_references.py" --minutes "$MINUTES" --recipes $recipe --tasks $task \
            --out "$RUNS/references" > "$RUNS/logs/$recipe-$task.log" 2>&1 &
    done
done
python3 -m napari_mrisr.training fit mni_x2_iso_full_consistency --quiet \
    --set name=mni-x2-iso-full-gpu --set output_dir="$RUNS" \
    --set generator.init_weights="$ROOT/napari_mrisr/pretrained/mni-x2-iso-full.safetensors" \
    --set trainer.accelerator=auto --set data.batch_size=16 --set optim.lr_decay=3.0e-4 \
    --set schedule.pretrain_steps=1000000 --set schedule.steps_per_epoch=500 \
    --set trainer.max_time=$clock > "$RUNS/logs/x2-full.log" 2>&1 &
wait
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null

x2=$RUNS/mni-x2-iso-full-gpu.safetensors
python3 -m napari_mrisr.training export "$RUNS/mni-x2-iso-full-gpu/checkpoints/best.ckpt" "$x2" --half --force
python3 "$ROOT/benchmarks/quality.py" --models "$RUNS"/references/*.safetensors "$x2" \
    --out "$RUNS/quality" > "$RUNS/logs/quality.log" 2>&1
tail -n 3 "$RUNS"/logs/*.log
cat "$RUNS/quality/quality.md" "$RUNS/references/references.jsonl"
cd "$RUNS/.." && tar -cf "$OUT/gpu_session.tar" gpu/logs gpu/quality gpu/references/references.jsonl \
    gpu/mni-x2-iso-full-gpu.safetensors gpu/mni-x2-iso-full-gpu/events.jsonl
ls -la "$OUT"
